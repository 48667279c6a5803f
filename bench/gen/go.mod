module leakwatch.bench/gen

go 1.19

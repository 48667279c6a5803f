module leakwatch.test/blockgen

go 1.19

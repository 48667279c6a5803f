module leakwatch.test/scenario

go 1.19

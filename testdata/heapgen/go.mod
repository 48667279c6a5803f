module leakwatch.test/heapgen

go 1.19

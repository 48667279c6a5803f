module leakwatch/gen-fixtures

go 1.19

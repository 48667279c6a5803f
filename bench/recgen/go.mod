module leakwatch/bench/recgen

go 1.19

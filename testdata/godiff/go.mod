module memprof.test/godiff

go 1.19

module memprof.test/goprof

go 1.19

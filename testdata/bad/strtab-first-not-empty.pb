

d("
"* 2x2space2bytes2a.out2main2main.c
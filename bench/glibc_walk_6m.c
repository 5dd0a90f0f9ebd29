/* A glibc heap of six million chunks: small blocks of mixed sizes, every third one freed
 * (so tcaches fill, fastbins and small bins get long lists), then malloc_info to argv[1] and
 * abort. Used by bench/glibc_walk.sh. */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>

#define N 6000000
static void *volatile p[N];
static char buf[1 << 16];

int main(int argc, char **argv) {
    unsigned s = 1;
    for (long i = 0; i < N; i++) {
        s = s * 1103515245u + 12345u;
        p[i] = malloc(8 + (s >> 16) % 120);
    }
    for (long i = 0; i < N; i += 3)
        free(p[i]);
    FILE *f = fopen(argc > 1 ? argv[1] : "malloc_info.xml", "w");
    setvbuf(f, buf, _IOFBF, sizeof buf);
    malloc_info(0, f);
    fflush(f);
    abort();
}

/* A process holding GIB GiB of heap, shaped like a real one, that aborts: of every 16 pages,
 * 6 stay zero (freed or never-touched memory, holes in the decompressed core) and 10 hold
 * small records of counters and repeated strings (zstd shrinks them several-fold). Its core is
 * the input of bench/compressed_core.sh. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv) {
    size_t gib = argc > 1 ? strtoul(argv[1], 0, 10) : 1;
    size_t block = 1u << 20, page = 4096;
    unsigned long state = 88172645463325252ul;
    for (size_t n = 0; n < (gib << 30) / block; n++) {
        char *p = malloc(block);
        if (!p)
            return 1;
        memset(p, 0, block);
        for (size_t off = 0; off < block; off += page) {
            if ((off / page) % 16 < 6)
                continue;
            for (size_t r = off; r + 32 <= off + page; r += 32) {
                state ^= state << 13, state ^= state >> 7, state ^= state << 17;
                snprintf(p + r, 32, "user-%08lu:%s", state % 100000000,
                         (state >> 40) & 1 ? "active" : "idle");
            }
        }
    }
    abort();
}

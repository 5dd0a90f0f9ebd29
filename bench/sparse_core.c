/* A process with a 10 GiB anonymous mapping, one byte touched per GiB, that aborts:
 * its core is a 10 GiB sparse file (the kernel skips the untouched pages). */
#include <stdlib.h>
#include <sys/mman.h>

int main(int argc, char **argv) {
    size_t gib = argc > 1 ? strtoul(argv[1], 0, 10) : 10;
    size_t size = gib << 30;
    char *p = mmap(0, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED)
        return 1;
    for (size_t off = 0; off < size; off += 1u << 30)
        p[off] = 1;
    abort();
}

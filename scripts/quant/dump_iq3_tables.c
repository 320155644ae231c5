// ggml's IQ3 search tables (iq3xs_init_impl) written to a file, for the test that checks
// quantd's own tables against them. ggml keeps the tables in a static array, so this file
// includes ggml-quants.c itself to reach it. Build and run: scripts/quant/dump_iq3_tables.sh.
//
// Output (little endian), for grid size 256 then 512:
//   i32 grid_size, u32 grid[grid_size] (4 bytes 2l+1 per point), i32 map[4096],
//   i32 n, u16 neighbours[n]
#include "ggml-quants.c"
#include <stdio.h>

int main(int argc, char ** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT\n", argv[0]);
        return 2;
    }
    FILE * f = fopen(argv[1], "wb");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    const int sizes[2] = {256, 512};
    for (int g = 0; g < 2; ++g) {
        iq3xs_init_impl(sizes[g]);
        const iq3_entry_t e = iq3_data[g];
        int total = 0;
        for (int i = 0; i < 4096; ++i) {
            if (e.map[i] >= 0) continue;
            const int offset = -e.map[i] - 1;
            const int end = offset + 1 + e.neighbours[offset];
            if (end > total) total = end;
        }
        fwrite(&sizes[g], 4, 1, f);
        fwrite(e.grid, 4, sizes[g], f);
        fwrite(e.map, 4, 4096, f);
        fwrite(&total, 4, 1, f);
        fwrite(e.neighbours, 2, total, f);
        fprintf(stderr, "grid %d: %d neighbour entries\n", sizes[g], total);
    }
    return fclose(f) == 0 ? 0 : 1;
}

// Summarises the neighbour tables ggml builds in iq2xs_init_impl (ggml-quants.c), so the Swift
// tables can be checked against them without the oracle at test time.
//
// The tables are static inside ggml-quants.c, so this file includes that source (the reference
// itself, unmodified) and links the oracle's libggml-base for the rest. Build and run: see
// Tests/QuantizationTests/Fixtures/README.md.
//
// For each codebook and every point u whose 8 levels are all 0..2 (the only points the
// quantizers look up), in increasing u, the u16 stream gets: 0xFFFF and the codebook index when
// u is on the codebook, otherwise the neighbour count and the neighbours in ggml's order. The
// output line per codebook: name, points, points on the codebook, total neighbours, and the
// FNV-1a 64-bit hash of that stream (little-endian u16s).
#include "ggml-quants.c"

static uint64_t fnv(uint64_t h, uint16_t v) {
    uint8_t b[2] = {(uint8_t)(v & 0xff), (uint8_t)(v >> 8)};
    for (int i = 0; i < 2; ++i) { h ^= b[i]; h *= 0x100000001b3ULL; }
    return h;
}

int main(void) {
    const enum ggml_type types[4] = {GGML_TYPE_IQ2_XXS, GGML_TYPE_IQ2_XS, GGML_TYPE_IQ2_S, GGML_TYPE_IQ1_S};
    const char * names[4] = {"IQ2_XXS", "IQ2_XS", "IQ2_S", "IQ1_S"};
    for (int t = 0; t < 4; ++t) {
        iq2xs_init_impl(types[t]);
        const int g = iq2_data_index(types[t]);
        const int * map = iq2_data[g].map;
        const uint16_t * nb = iq2_data[g].neighbours;
        uint64_t h = 0xcbf29ce484222325ULL;
        int points = 0, on = 0; long total = 0;
        for (int u = 0; u < 43692; ++u) {
            int ok = 1;
            for (int k = 0; k < 8; ++k) if (((u >> 2*k) & 3) > 2) ok = 0;
            if (!ok) continue;
            ++points;
            if (map[u] >= 0) { ++on; h = fnv(h, 0xFFFF); h = fnv(h, (uint16_t)map[u]); continue; }
            const uint16_t * list = nb - map[u] - 1;
            h = fnv(h, list[0]);
            for (int j = 1; j <= list[0]; ++j) h = fnv(h, list[j]);
            total += list[0];
        }
        printf("%s %d %d %ld %016llx\n", names[t], points, on, total, (unsigned long long)h);
    }
    return 0;
}

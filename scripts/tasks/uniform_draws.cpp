// The draws llama-perplexity's HellaSwag selection makes: std::mt19937 seeded with 1, then for each
// item a fresh std::uniform_int_distribution<size_t>(0, left - 1) with `left` counting down from N.
// Prints the draws for N = 10042 (the full HellaSwag validation file), 20 items, and the first three
// raw engine outputs. Build: g++ -O2 -std=c++17 scripts/tasks/uniform_draws.cpp -o /tmp/uniform_draws
#include <cstdio>
#include <random>

int main() {
    std::mt19937 raw(1);
    unsigned a = raw(), b = raw(), c = raw();
    printf("raw %u %u %u\n", a, b, c);
    std::mt19937 rng(1);
    size_t left = 10042;
    printf("draws");
    for (int i = 0; i < 20; ++i, --left) {
        std::uniform_int_distribution<size_t> dist(0, left - 1);
        printf(" %zu", dist(rng));
    }
    printf("\n");
    std::mt19937 small(1);
    printf("small");
    for (size_t n : {1ul, 2ul, 3ul, 5ul, 7ul, 1000ul, 4000000000ul}) {
        std::uniform_int_distribution<size_t> dist(0, n - 1);
        printf(" %zu", dist(small));
    }
    printf("\n");
}

/* sorted.c - binary search by name in sorted pointer arrays (see sorted.h). */
#include "util/sorted.h"

#include <string.h>

size_t mc_sorted_index(void *const *items, size_t n, const char *(*name_of)(const void *item),
                       const char *key, int *found)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name_of(items[mid]), key);
        if (c == 0) {
            *found = 1;
            return mid;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = 0;
    return lo;
}

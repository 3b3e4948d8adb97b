/* sorted.h - binary search in arrays of pointers kept sorted by a name.
 *
 * The store's clusters and the watch hub's clusters are such arrays; one
 * search serves both.
 */
#ifndef MC_UTIL_SORTED_H
#define MC_UTIL_SORTED_H

#include <stddef.h>

/* Returns the index of the item whose name equals key (*found = 1), or the
 * index at which such an item would be inserted to keep the order (*found =
 * 0). items holds n pointers sorted by strcmp of name_of(item). */
size_t mc_sorted_index(void *const *items, size_t n, const char *(*name_of)(const void *item),
                       const char *key, int *found);

#endif

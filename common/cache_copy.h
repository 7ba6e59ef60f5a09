/*
 * cache_copy.h - the file backend's in-process copies of cache entries.
 *
 * A process serving cached tokens reads the same entry again and again;
 * parsing its JSON was most of a cached login (issue 17). The file backend
 * keeps the last entries it read, parsed, each with the identity of the
 * file it came from (device, inode, size, mtime and ctime with their
 * nanoseconds, owner, mode), and serves a copy only while the file, looked
 * at again with fstatat, is still that very file: a rewrite (a new inode,
 * by rename), a forget, a chmod or chown, a touch all make it read again.
 * A file modified less than MSOAUTH_COPY_SETTLE_NS before it was read is
 * not copied: a second write in the same clock tick could keep its mtime.
 * Thread-safe. The copies' secrets are wiped when dropped and when freed.
 */
#ifndef MSOAUTH_CACHE_COPY_H
#define MSOAUTH_CACHE_COPY_H

#include <sys/stat.h>

#include "cache.h"

/* Entries kept per cache (the oldest goes first). */
#define MSOAUTH_COPY_MAX 16
/* How old a file's mtime must be for its entry to be copied. */
#define MSOAUTH_COPY_SETTLE_NS 1000000000LL

struct msoauth_copies;

/* NULL when out of memory (then nothing is copied: every get reads). */
struct msoauth_copies *msoauth_copies_new(void);

/* Wipes and frees every copy. Accepts NULL. */
void msoauth_copies_free(struct msoauth_copies *copies);

/* The name (STEM.json, in the directory) of key's copy, and its identity
 * when found: copied to name[name_size]. 0 when there is none. */
int msoauth_copies_name(struct msoauth_copies *copies,
                        const struct msoauth_cache_key *key, char *name,
                        size_t name_size);

/* Fills entry (initialised by the caller) with a copy of key's entry when
 * st, the file looked at now, is the file it was read from: 1. 0 when
 * not (the copy is dropped then), or out of memory. */
int msoauth_copies_get(struct msoauth_copies *copies,
                       const struct msoauth_cache_key *key,
                       const struct stat *st,
                       struct msoauth_cache_entry *entry);

/* Keeps a copy of entry, read from the file name whose opened descriptor's
 * fstat is st; nothing when the file is too young (see above) or memory
 * is short. */
void msoauth_copies_put(struct msoauth_copies *copies,
                        const struct msoauth_cache_key *key, const char *name,
                        const struct stat *st,
                        const struct msoauth_cache_entry *entry);

/* Drops key's copy (this process writes or removes the entry). */
void msoauth_copies_drop(struct msoauth_copies *copies,
                         const struct msoauth_cache_key *key);

/* How many gets were answered from a copy in this process (tests). */
unsigned long msoauth_copies_hits(void);

#endif

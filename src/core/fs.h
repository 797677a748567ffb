/*
 * fs.h - small file-system helpers.
 */
#ifndef FR_CORE_FS_H
#define FR_CORE_FS_H

/* Creates dir and any missing parents (mode 0755), like `mkdir -p`.
 * 0 or -errno (also when a component exists but is not a directory). */
int fr_mkdir_p(const char *dir);

#endif

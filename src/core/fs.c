/* fs.c - see fs.h. */
#include "core/fs.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

#include "core/err.h"

static int mkdir_one(const char *path)
{
    struct stat st;
    if (mkdir(path, 0755) == 0)
        return 0;
    if (errno != EEXIST)
        return -errno;
    if (stat(path, &st) != 0)
        return -errno;
    return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
}

int fr_mkdir_p(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof path)
        return n ? -ENAMETOOLONG : -ENOENT;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i < n; i++) {
        if (path[i] != '/')
            continue;
        path[i] = '\0';
        int rc = mkdir_one(path);
        path[i] = '/';
        if (rc)
            return rc;
    }
    return mkdir_one(path);
}

/* arc4random and arc4random_buf for glibc older than 2.36, which lacks them: Debian 12's
 * libevent_core calls them (GLIBC_2.36). gpu-bundle.sh marks that requirement weak and
 * gpu-check.sh preloads this library where glibc is older. Built without symbol versions,
 * so the loader accepts these definitions for the versioned references. */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/random.h>
#include <unistd.h>

void arc4random_buf(void *buf, size_t n) {
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
            if (fd < 0 || read(fd, p, n) != (ssize_t)n)
                abort();
            close(fd);
            return;
        }
        p += got;
        n -= (size_t)got;
    }
}

uint32_t arc4random(void) {
    uint32_t x;
    arc4random_buf(&x, sizeof x);
    return x;
}

/* A Mach-O stand-in for `nix-store` inside a Darling prefix (the x86_64-darwin Nix tarball
 * cannot be had here): just what `darling-nix doctor` asks of the builder.
 *
 *   nix-store --version          "nix-store (Nix) ..." plus the kernel it runs on
 *   nix-store --serve [--write]  the serve protocol's greeting (as NixOS/nix's opServe:
 *                                magic 1 in, magic 2 and the version out, the client's
 *                                version in), then EOF ends it; any command is refused
 *
 * Every call appends its argv to CALLS_LOG, so a test can tell whether anything ran.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#define SERVE_MAGIC_1 0x390c9debULL
#define SERVE_MAGIC_2 0x5452eecbULL
#define SERVE_PROTOCOL_VERSION ((2 << 8) | 7)
#define CALLS_LOG "/nix/var/darling-nix/standin-calls.log"

static void log_call(int argc, char **argv) {
    char line[1024] = "";
    for (int i = 1; i < argc; i++) {
        strlcat(line, argv[i], sizeof line);
        strlcat(line, i + 1 < argc ? " " : "\n", sizeof line);
    }
    int fd = open(CALLS_LOG, O_WRONLY | O_APPEND | O_CREAT, 0644);
    if (fd >= 0) {
        write(fd, line, strlen(line));
        close(fd);
    }
}

/* 1 when all of the 8 bytes came, 0 at EOF before the first byte, -1 on a short read */
static int read_u64(uint64_t *value) {
    unsigned char bytes[8];
    size_t got = 0;
    while (got < sizeof bytes) {
        ssize_t n = read(0, bytes + got, sizeof bytes - got);
        if (n <= 0)
            return got == 0 ? 0 : -1;
        got += (size_t)n;
    }
    *value = 0;
    for (int i = 7; i >= 0; i--)
        *value = *value << 8 | bytes[i];
    return 1;
}

static int write_u64(uint64_t value) {
    unsigned char bytes[8];
    for (int i = 0; i < 8; i++)
        bytes[i] = (unsigned char)(value >> (8 * i));
    return write(1, bytes, sizeof bytes) == (ssize_t)sizeof bytes ? 0 : -1;
}

static int serve(void) {
    uint64_t magic, client_version, command;
    if (read_u64(&magic) != 1 || magic != SERVE_MAGIC_1) {
        fprintf(stderr, "error: protocol mismatch\n");
        return 1;
    }
    if (write_u64(SERVE_MAGIC_2) || write_u64(SERVE_PROTOCOL_VERSION))
        return 1;
    if (read_u64(&client_version) != 1)
        return 1;
    int got = read_u64(&command);
    if (got == 0)
        return 0;
    fprintf(stderr, "error: the serve stand-in implements no commands (got %llu)\n",
            (unsigned long long)command);
    return 1;
}

int main(int argc, char **argv) {
    log_call(argc, argv);
    if (argc == 2 && strcmp(argv[1], "--version") == 0) {
        struct utsname kernel;
        if (uname(&kernel) != 0)
            return 1;
        printf("nix-store (Nix) 2.24.4-darling-nix-standin on %s %s\n", kernel.sysname,
               kernel.release);
        return 0;
    }
    if (argc >= 2 && strcmp(argv[1], "--serve") == 0 &&
        (argc == 2 || (argc == 3 && strcmp(argv[2], "--write") == 0)))
        return serve();
    fprintf(stderr, "error: the stand-in knows only --version and --serve [--write]\n");
    return 1;
}

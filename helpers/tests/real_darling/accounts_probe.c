/* What Darling's own libinfo reads from the prefix's account files: one line per query,
 * so the tests compare it with what the shims or the host side wrote.
 *
 *   accounts_probe user NAME | group NAME | gid NUMBER ...
 *
 * prints  user NAME uid=U gid=G gecos=... home=... shell=...
 *         group NAME gid=G members=a,b
 *         missing KIND KEY      (and the exit status is 1)
 */
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_group(const struct group *group) {
    printf("group %s gid=%u members=", group->gr_name, (unsigned)group->gr_gid);
    for (char **member = group->gr_mem; member && *member; member++)
        printf("%s%s", member == group->gr_mem ? "" : ",", *member);
    printf("\n");
}

int main(int argc, char **argv) {
    int status = 0;
    if (argc < 3 || argc % 2 == 0) {
        fprintf(stderr, "usage: accounts_probe user NAME | group NAME | gid NUMBER ...\n");
        return 2;
    }
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *kind = argv[i], *key = argv[i + 1];
        if (strcmp(kind, "user") == 0) {
            struct passwd *user = getpwnam(key);
            if (user) {
                printf("user %s uid=%u gid=%u gecos=%s home=%s shell=%s\n", user->pw_name,
                       (unsigned)user->pw_uid, (unsigned)user->pw_gid, user->pw_gecos,
                       user->pw_dir, user->pw_shell);
                continue;
            }
        } else if (strcmp(kind, "group") == 0 || strcmp(kind, "gid") == 0) {
            struct group *group = strcmp(kind, "group") == 0
                ? getgrnam(key) : getgrgid((gid_t)strtoul(key, NULL, 10));
            if (group) {
                print_group(group);
                continue;
            }
        } else {
            fprintf(stderr, "accounts_probe: unknown query kind %s\n", kind);
            return 2;
        }
        printf("missing %s %s\n", kind, key);
        status = 1;
    }
    return status;
}

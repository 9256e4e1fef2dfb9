/* The calls Nix's store code makes on macOS, each checked for what macOS does.
 * Sources (NixOS/nix at 88b09c64):
 *   sqlite WAL        src/libstore/local-store.cc:557-563 (pragma main.journal_mode = wal),
 *                     src/libstore/sqlite.cc:131; SQLite's unix VFS locks the database
 *                     and its -shm file with fcntl(F_SETLK) byte ranges (os_unix.c)
 *   flock             src/libstore/unix/pathlocks.cc:51,59 (LOCK_EX, LOCK_EX|LOCK_NB ->
 *                     EWOULDBLOCK means "held by someone else")
 *   lchflags          src/libstore/posix-fs-canonicalise.cc:125 (clear flags; ENOTSUP tolerated;
 *                     its FIXME names setattrlist for the rest)
 *   lchown            src/libstore/posix-fs-canonicalise.cc:166 (on symlinks too)
 *   utimensat/lutimes src/libutil/unix/file-system.cc:100-135 setWriteTime (AT_SYMLINK_NOFOLLOW,
 *                     mtime 1 for store paths)
 *   posix_spawn       src/libstore/darwin/build/darwin-derivation-builder.cc:185-206
 *                     (POSIX_SPAWN_SETEXEC, posix_spawnattr_setbinpref_np CPU_TYPE_X86_64)
 *   sysctl            libc++'s thread::hardware_concurrency (sysctl CTL_HW/HW_NCPU), used by
 *                     src/libstore/globals.cc:185; src/libmain/shared.cc:152
 *                     (kern.maxfilesperproc, then setrlimit RLIMIT_NOFILE)
 *   renameatx_np      not called by Nix itself; named by the issue. Semantics from Apple's
 *                     rename(2): RENAME_EXCL fails with EEXIST, RENAME_SWAP swaps atomically.
 * Apple's fcntl(2): a conflicting F_SETLK fails with EAGAIN; F_GETLK names the holder's pid.
 * Each check prints one PASS/FAIL line (regress.h). */
#include <fcntl.h>
#include <spawn.h>
#include <sqlite3.h>
#include <stdint.h>
#include <mach/machine.h>
#include <sys/attr.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysctl.h>
#include <sys/time.h>
#include <sys/wait.h>

#include "regress.h"

extern char **environ;

/* Run CHILD in a forked process; its exit status (or -1). */
static int in_child(int (*child)(void *), void *arg)
{
	int status;
	pid_t pid = fork();
	if (pid == 0)
		_exit(child(arg));
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status))
		return -1;
	return WEXITSTATUS(status);
}

static int sql(sqlite3 *db, const char *statement)
{
	return sqlite3_exec(db, statement, NULL, NULL, NULL);
}

static int try_write_lock(void *path)
{
	sqlite3 *db;
	if (sqlite3_open(path, &db) != SQLITE_OK)
		return 10;
	int rc = sql(db, "BEGIN IMMEDIATE");
	sqlite3_close(db);
	return rc == SQLITE_BUSY ? 0 : 20 + rc;
}

static void check_sqlite(void)
{
	sqlite3 *db, *reader;
	sqlite3_stmt *stmt = NULL;
	const char *mode = "";
	int ok = sqlite3_open("db.sqlite", &db) == SQLITE_OK &&
	         sqlite3_prepare_v2(db, "pragma main.journal_mode = wal", -1, &stmt, NULL) == SQLITE_OK &&
	         sqlite3_step(stmt) == SQLITE_ROW;
	if (ok)
		mode = (const char *)sqlite3_column_text(stmt, 0);
	regress_check(ok && strcmp(mode, "wal") == 0, "sqlite journal_mode = wal answers wal", errno);
	sqlite3_finalize(stmt);

	ok = sql(db, "CREATE TABLE paths (id INTEGER PRIMARY KEY, path TEXT UNIQUE)") == SQLITE_OK &&
	     sql(db, "INSERT INTO paths (path) VALUES ('/nix/store/abc-hello')") == SQLITE_OK;
	struct stat st;
	regress_check(ok && stat("db.sqlite-wal", &st) == 0 && stat("db.sqlite-shm", &st) == 0,
	              "sqlite WAL write leaves db.sqlite-wal and db.sqlite-shm", errno);

	int rows = -1;
	if (sqlite3_open("db.sqlite", &reader) == SQLITE_OK &&
	    sqlite3_prepare_v2(reader, "SELECT count(*) FROM paths", -1, &stmt, NULL) == SQLITE_OK &&
	    sqlite3_step(stmt) == SQLITE_ROW)
		rows = sqlite3_column_int(stmt, 0);
	sqlite3_finalize(stmt);
	sqlite3_close(reader);
	regress_check(rows == 1, "a second connection reads the committed row", errno);

	/* the write lock is an fcntl byte-range lock: another process must see it held */
	sql(db, "BEGIN IMMEDIATE");
	regress_check(in_child(try_write_lock, "db.sqlite") == 0,
	              "another process gets SQLITE_BUSY while this one holds the write lock", errno);
	sql(db, "COMMIT");
	regress_check(in_child(try_write_lock, "db.sqlite") != 0,
	              "after COMMIT another process can take the write lock", errno);
	sqlite3_close(db);
}

static int fcntl_conflict(void *holder)
{
	int fd = open("locked", O_RDWR);
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	if (fcntl(fd, F_SETLK, &lock) == 0)
		return 1;
	if (errno != EAGAIN)
		return 2;
	if (fcntl(fd, F_GETLK, &lock) != 0 || lock.l_type != F_WRLCK || lock.l_pid != *(pid_t *)holder)
		return 3;
	return 0;
}

static int flock_conflict(void *unused)
{
	(void)unused;
	int fd = open("locked", O_RDWR);
	return flock(fd, LOCK_EX | LOCK_NB) == -1 && errno == EWOULDBLOCK ? 0 : 1;
}

static void check_locks(void)
{
	pid_t self = getpid();
	int fd = open("locked", O_RDWR | O_CREAT, 0600);
	struct flock lock = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
	regress_check(fd >= 0 && fcntl(fd, F_SETLK, &lock) == 0, "fcntl F_SETLK write lock", errno);
	int status = in_child(fcntl_conflict, &self);
	regress_check(status == 0, "a conflicting F_SETLK fails with EAGAIN and F_GETLK names the holder",
	              status);
	int other = open("locked", O_RDWR);
	regress_check(flock(other, LOCK_EX) == 0, "flock LOCK_EX", errno);
	regress_check(in_child(flock_conflict, NULL) == 0,
	              "flock LOCK_EX|LOCK_NB in another process fails with EWOULDBLOCK", errno);
	close(other);
	close(fd);
}

static void check_renameatx(void)
{
	regress_write_file("one", "1");
	regress_write_file("two", "2");
	errno = 0;
	regress_check(renameatx_np(AT_FDCWD, "one", AT_FDCWD, "two", RENAME_EXCL) == -1 && errno == EEXIST &&
	              regress_file_is("two", "2"), "renameatx_np RENAME_EXCL onto a file: EEXIST", errno);
	regress_check(renameatx_np(AT_FDCWD, "one", AT_FDCWD, "two", RENAME_SWAP) == 0 &&
	              regress_file_is("one", "2") && regress_file_is("two", "1"), "renameatx_np RENAME_SWAP", errno);
}

static void check_symlink_metadata(void)
{
	struct stat link_st, target_st;
	regress_write_file("target", "t");
	int ok = symlink("target", "link") == 0;
	regress_check(ok && lchown("link", geteuid(), getegid()) == 0, "lchown on a symlink", errno);

	struct timespec times[2] = {{.tv_sec = 1}, {.tv_sec = 1}};
	ok = utimensat(AT_FDCWD, "link", times, AT_SYMLINK_NOFOLLOW) == 0 && lstat("link", &link_st) == 0 &&
	     stat("target", &target_st) == 0;
	regress_check(ok && link_st.st_mtime == 1 && target_st.st_mtime != 1,
	              "utimensat AT_SYMLINK_NOFOLLOW sets the link's mtime to 1, not the target's", errno);

	struct timeval tv[2] = {{.tv_sec = 2}, {.tv_sec = 2}};
	ok = lutimes("link", tv) == 0 && lstat("link", &link_st) == 0 && stat("target", &target_st) == 0;
	regress_check(ok && link_st.st_mtime == 2 && target_st.st_mtime != 2,
	              "lutimes sets the link's mtime to 2, not the target's", errno);

	errno = 0;
	ok = lchflags("link", 0) == 0 || errno == ENOTSUP;
	regress_check(ok, "lchflags(link, 0) succeeds (or ENOTSUP, which Nix tolerates)", errno);

	struct attrlist attrs = {.bitmapcount = ATTR_BIT_MAP_COUNT, .commonattr = ATTR_CMN_FLAGS};
	uint32_t flags = 0;
	struct {
		uint32_t length;
		uint32_t flags;
	} __attribute__((packed)) back = {0, 1};
	ok = setattrlist("link", &attrs, &flags, sizeof(flags), FSOPT_NOFOLLOW) == 0 &&
	     getattrlist("link", &attrs, &back, sizeof(back), FSOPT_NOFOLLOW) == 0;
	regress_check(ok && back.flags == 0, "setattrlist ATTR_CMN_FLAGS = 0 on a symlink, read back 0", errno);
}

static int spawn_setexec(void *unused)
{
	(void)unused;
	posix_spawnattr_t attr;
	cpu_type_t cpu = CPU_TYPE_X86_64;
	char *argv[] = {"sh", "-c", "exit 9", NULL};
	if (posix_spawnattr_init(&attr) || posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETEXEC))
		return 1;
	posix_spawnattr_setbinpref_np(&attr, 1, &cpu, NULL);
	posix_spawn(NULL, "/bin/sh", NULL, &attr, argv, environ);
	return 2; /* SETEXEC returns only on failure */
}

static void check_spawn(void)
{
	posix_spawnattr_t attr;
	cpu_type_t cpu = CPU_TYPE_X86_64;
	size_t copied = 0;
	pid_t pid;
	int status = -1;
	char *argv[] = {"sh", "-c", "exit 7", NULL};
	int ok = posix_spawnattr_init(&attr) == 0 && posix_spawnattr_setbinpref_np(&attr, 1, &cpu, &copied) == 0;
	regress_check(ok && copied == 1, "posix_spawnattr_setbinpref_np CPU_TYPE_X86_64", errno);
	ok = posix_spawn(&pid, "/bin/sh", NULL, &attr, argv, environ) == 0 && waitpid(pid, &status, 0) == pid;
	regress_check(ok && WIFEXITED(status) && WEXITSTATUS(status) == 7,
	              "posix_spawn /bin/sh -c 'exit 7' exits 7", errno);
	posix_spawnattr_destroy(&attr);
	regress_check(in_child(spawn_setexec, NULL) == 9,
	              "posix_spawn with POSIX_SPAWN_SETEXEC replaces the process (exit 9)", errno);
}

static void check_sysctl(void)
{
	int mib[2] = {CTL_HW, HW_NCPU}, ncpu = 0, byname = 0, maxfiles = 0;
	size_t size = sizeof(ncpu);
	int ok = sysctl(mib, 2, &ncpu, &size, NULL, 0) == 0;
	size = sizeof(byname);
	ok = ok && sysctlbyname("hw.ncpu", &byname, &size, NULL, 0) == 0;
	regress_check(ok && ncpu >= 1 && ncpu == byname && ncpu == sysconf(_SC_NPROCESSORS_ONLN),
	              "sysctl hw.ncpu = sysctlbyname hw.ncpu = online CPUs (>= 1)", errno);

	size = sizeof(maxfiles);
	errno = 0;
	ok = sysctlbyname("kern.maxfilesperproc", &maxfiles, &size, NULL, 0) == 0 && maxfiles > 0;
	regress_check(ok, "sysctlbyname kern.maxfilesperproc answers > 0", errno);

	/* bumpFileLimit: the soft limit raised to kern.maxfilesperproc, or (when that sysctl
	 * fails) to the hard limit */
	struct rlimit limit;
	ok = getrlimit(RLIMIT_NOFILE, &limit) == 0;
	rlim_t target = maxfiles > 0 && (rlim_t)maxfiles < limit.rlim_max ? (rlim_t)maxfiles : limit.rlim_max;
	if (target == RLIM_INFINITY)
		target = 10240;
	limit.rlim_cur = target;
	ok = ok && setrlimit(RLIMIT_NOFILE, &limit) == 0 && getrlimit(RLIMIT_NOFILE, &limit) == 0 &&
	     limit.rlim_cur == target;
	regress_check(ok, "RLIMIT_NOFILE soft limit raised as Nix's bumpFileLimit does", errno);
}

int main(void)
{
	regress_tmpdir("nix-store-calls");
	check_sqlite();
	check_locks();
	check_renameatx();
	check_symlink_metadata();
	check_spawn();
	check_sysctl();
	return regress_status();
}

/* FIODTYPE without a darlingserver call: patches/xnu/0014-quiet-kprintf.patch
 * Darling's FIODTYPE ioctl, which macOS's stdio asks of each stream's descriptor before its
 * first buffered read or write, sent a debug line to darlingserver (kprintf: a round trip,
 * and darlingserver drops the line unless its log level is info); so did every process's
 * start (darling_sigexc_self) and every execve. Checked: the ioctl still answers (D_DISK
 * for a file), and IOCTLS of them make fewer than AT_MOST voluntary context switches (a
 * darlingserver round trip makes one: the caller waits for the reply). */
#include "regress.h"
#include <fcntl.h>
#include <sys/conf.h>
#include <sys/ioctl.h>

#define IOCTLS 2000
#define AT_MOST 100

int main(void)
{
	regress_tmpdir("fiodtype_quiet");
	int fd = open("file", O_CREAT | O_RDWR, 0644);
	int type = -1;
	regress_check(fd >= 0 && ioctl(fd, FIODTYPE, &type) == 0 && type == D_DISK,
		"FIODTYPE says a file is a disk's", errno);
	long before = regress_voluntary_switches();
	int answered = 0;
	for (int i = 0; i < IOCTLS; i++)
		answered += ioctl(fd, FIODTYPE, &type) == 0;
	long switches = regress_voluntary_switches() - before;
	printf("(%d of %d FIODTYPE answered; %ld voluntary context switches)\n", answered, IOCTLS, switches);
	regress_check(answered == IOCTLS && switches < AT_MOST,
		"2000 FIODTYPE ioctls do not wait for darlingserver", 0);
	return regress_status();
}

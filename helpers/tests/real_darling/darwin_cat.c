/* cat for the runner tests: stdin to stdout, byte for byte, in large blocks. */
#include <unistd.h>

int main(void)
{
	static char buf[1 << 16];
	ssize_t n;
	while ((n = read(0, buf, sizeof buf)) > 0) {
		ssize_t off = 0;
		while (off < n) {
			ssize_t w = write(1, buf + off, (size_t)(n - off));
			if (w <= 0)
				return 2;
			off += w;
		}
	}
	return n < 0 ? 3 : 0;
}

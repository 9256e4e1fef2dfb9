/* Built by `zig cc` inside a darwin derivation (test_nix_darwin.py): libc's stdio, a
 * file written and read back, and a forked child whose exit status comes back. */
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

int main(void)
{
	int status = 0;
	FILE *file = fopen("zig-hello.txt", "w");
	char line[64] = "";
	pid_t child;

	if (!file || fprintf(file, "written by zig cc\n") < 0 || fclose(file) != 0)
		return 1;
	file = fopen("zig-hello.txt", "r");
	if (!file || !fgets(line, sizeof(line), file))
		return 2;
	fclose(file);
	child = fork();
	if (child == 0)
		_exit(7);
	if (child < 0 || waitpid(child, &status, 0) != child || WEXITSTATUS(status) != 7)
		return 3;
	printf("zig cc: %s", line);
	return 0;
}

"""What each program of the compatibility suite is made to do (data/compat.json names one).

A check writes its input files into a scratch directory, runs a bash script inside the
prefix there (`$1` is that directory as the prefix sees it, `$2` the program) and passes
when the script exits 0 and its output holds every expected string. Upstream Darling
reports status 0 for a command killed by a signal (our darling/0008 fixes that), so the
output decides as much as the status.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Check:
    did: str  # what the program was made to do, for the table
    script: str
    expect: tuple[str, ...]
    files: dict[str, str] = field(default_factory=dict)  # name -> text
    copies: dict[str, str] = field(default_factory=dict)  # name -> a host file copied in


# Threads, a fork and exec, a file written, 200 000 lines through Darling's pipes.
_HELLO_C = r"""#include <pthread.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
static void *work(void *arg) {
  long *sum = arg;
  for (long i = 0; i < 1000000; i++) *sum += i % 7;
  return NULL;
}
int main(void) {
  pthread_t threads[4]; long sums[4] = {0}; int status = 0;
  for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, work, &sums[i]);
  for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
  pid_t child = fork();
  if (child == 0) { execl("/bin/echo", "echo", "child says hi", (char *)NULL); _exit(127); }
  waitpid(child, &status, 0);
  FILE *file = fopen("sums.txt", "w");
  fprintf(file, "threads %ld, child %d\n", sums[0] + sums[1] + sums[2] + sums[3], WEXITSTATUS(status));
  fclose(file);
  for (int i = 0; i < 200000; i++) printf("line %d of a large output\n", i);
  return 0;
}
"""

_HELLO_CXX17 = r"""#include <filesystem>
#include <iostream>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>
int main() {
  std::optional<std::string> caught;
  try { throw std::runtime_error("boom"); } catch (const std::exception &e) { caught = e.what(); }
  std::mutex lock; int sum = 0; std::vector<std::thread> threads;
  for (int i = 1; i <= 4; ++i)
    threads.emplace_back([&, i] { std::lock_guard<std::mutex> g(lock); sum += i; });
  for (auto &t : threads) t.join();
  std::filesystem::create_directories("a/b");
  std::cout << "caught: " << *caught << ", sum " << sum
            << (std::filesystem::is_directory("a/b") ? ", filesystem ok" : ", no a/b") << std::endl;
}
"""

_ZIG_ENV = 'cd "$1" && export ZIG_GLOBAL_CACHE_DIR="$1/zig-global" ZIG_LOCAL_CACHE_DIR="$1/zig-local"\n'

CHECKS: dict[str, Check] = {
    "zig_cc": Check(
        "zig cc compiles and links a C program (4 threads, fork+exec, a file, 200 000 lines "
        "of output), which then runs",
        _ZIG_ENV + '"$2" cc -O1 hello.c -o hello && ./hello > big.txt && cat sums.txt && '
        "wc -l < big.txt && tail -n 1 big.txt\n",
        ("threads 11999988, child 0", "200001", "line 199999 of a large output"),
        {"hello.c": _HELLO_C}),
    "zig_cxx17": Check(
        "zig c++ -std=c++17 compiles and links a program (exceptions, threads, "
        "std::filesystem), which then runs",
        _ZIG_ENV + '"$2" c++ -std=c++17 hello.cpp -o hello && ./hello\n',
        ("caught: boom, sum 10, filesystem ok",),
        {"hello.cpp": _HELLO_CXX17}),
    "ninja": Check(
        "ninja runs a build.ninja (three edges, each a subprocess), then finds nothing to do",
        'cd "$1" && "$2" && "$2" && cat out/all.txt\n',
        ("[3/3]", "ninja: no work to do.", "first\nsecond"),
        {"build.ninja": "rule copy\n  command = /bin/cp $in $out\n"
                        "rule join\n  command = /bin/cat $in > $out\n"
                        "build out/a.txt: copy a.txt\nbuild out/b.txt: copy b.txt\n"
                        "build out/all.txt: join out/a.txt out/b.txt\n",
         "a.txt": "first\n", "b.txt": "second\n"}),
    "cmake": Check(
        "cmake runs a script (cmake -P: file I/O, math, string ops); configuring a project "
        "with zig as its compiler comes after",
        'cd "$1" && "$2" -P script.cmake && cat answer.txt\n',
        ("cmake says 6*7=42", "answer 42"),
        {"script.cmake": 'math(EXPR answer "6*7")\nmessage(STATUS "cmake says 6*7=${answer}")\n'
                         'file(WRITE answer.txt "answer ${answer}\\n")\n'}),
    "clang_format": Check(
        "clang-format reformats a C file (LLVM style)",
        'cd "$1" && "$2" --style=LLVM messy.c\n',
        ("int main() { return 0; }",),
        {"messy.c": "int  main( ){return 0;}\n"}),
    "patchelf": Check(
        "patchelf reads a Linux ELF's interpreter, adds a DT_NEEDED entry and reads it back",
        'cd "$1" && cp elf elf2 && "$2" --print-interpreter elf && '
        '"$2" --add-needed libdarling-nix.so.1 elf2 && "$2" --print-needed elf2\n',
        ("/lib64/ld-linux-x86-64.so.2", "libdarling-nix.so.1"), copies={"elf": "/bin/true"}),
    "shfmt": Check(
        "shfmt formats a shell script",
        'cd "$1" && "$2" messy.sh\n',
        ('if [ "$a" ]; then echo x; fi',),
        {"messy.sh": 'if [ "$a" ]; then echo  x;fi\n'}),
    "esbuild": Check(
        "esbuild bundles two ES modules into one script",
        'cd "$1" && "$2" a.js --bundle --format=iife\n',
        ("hello from b",),
        {"a.js": 'import { greeting } from "./b.js";\nconsole.log(greeting);\n',
         "b.js": 'export const greeting = "hello from b";\n'}),
    "ruff": Check(
        "ruff finds an unused import in a Python file",
        'cd "$1" && "$2" check --no-cache --select F401 unused.py; test $? = 1\n',
        ("F401",),
        {"unused.py": "import os\n"}),
    "typos": Check(
        "typos finds a misspelling in a text file",
        'cd "$1" && "$2" notes.txt; test $? = 2\n',
        ("teh",),
        {"notes.txt": "teh quick brown fox\n"}),
    "uv": Check(
        "uv creates a Python project offline (uv init)",
        'cd "$1" && "$2" init --bare --vcs none --offline proj && cat proj/pyproject.toml\n',
        ('name = "proj"',)),
}

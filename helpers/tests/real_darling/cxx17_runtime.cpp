// What Nix's C++ leans on from libc++ at run time: exceptions across frames (and
// std::filesystem_error carrying an errno), std::thread with a mutex, a condition
// variable and atomics, and std::filesystem on real files. One PASS/FAIL line per check.
#include <atomic>
#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "regress.h"

namespace fs = std::filesystem;

struct StoreError : std::runtime_error {
	using std::runtime_error::runtime_error;
};

[[noreturn]] static void fail_deep(int depth)
{
	if (depth == 0)
		throw StoreError("path '/nix/store/x' is not valid");
	fail_deep(depth - 1);
}

static void check_exceptions()
{
	std::string caught;
	try {
		fail_deep(5);
	} catch (const std::runtime_error &error) {
		caught = error.what();
	}
	regress_check(caught == "path '/nix/store/x' is not valid", "exception thrown 5 frames deep is caught as its base", 0);

	std::error_code code;
	try {
		fs::file_size("does-not-exist");
	} catch (const fs::filesystem_error &error) {
		code = error.code();
	}
	regress_check(code == std::errc::no_such_file_or_directory, "filesystem_error carries ENOENT", code.value());
}

static void check_threads()
{
	std::atomic<int> counter{0};
	std::mutex mutex;
	std::condition_variable ready;
	int finished = 0;
	std::vector<std::thread> workers;
	for (int i = 0; i < 4; i++)
		workers.emplace_back([&] {
			for (int n = 0; n < 10000; n++)
				counter.fetch_add(1, std::memory_order_relaxed);
			std::lock_guard<std::mutex> lock(mutex);
			finished++;
			ready.notify_one();
		});
	{
		std::unique_lock<std::mutex> lock(mutex);
		ready.wait(lock, [&] { return finished == 4; });
	}
	for (auto &worker : workers)
		worker.join();
	regress_check(counter.load() == 40000, "4 threads x 10000 atomic increments = 40000", 0);
	regress_check(std::thread::hardware_concurrency() >= 1, "hardware_concurrency >= 1", 0);
}

static void check_filesystem()
{
	fs::path root = regress_tmpdir("cxx17");
	std::error_code code;
	fs::create_directories(root / "a" / "b", code);
	regress_check(!code && fs::is_directory(root / "a" / "b"), "create_directories a/b", code.value());

	std::ofstream(root / "a" / "file") << "0123456789";
	regress_check(fs::file_size(root / "a" / "file", code) == 10, "ofstream then file_size = 10", code.value());

	fs::create_symlink("file", root / "a" / "link", code);
	regress_check(!code && fs::is_symlink(fs::symlink_status(root / "a" / "link")) &&
	              fs::read_symlink(root / "a" / "link") == "file", "create_symlink / read_symlink", code.value());

	fs::rename(root / "a" / "file", root / "a" / "b" / "moved", code);
	regress_check(!code && fs::exists(root / "a" / "b" / "moved") && !fs::exists(root / "a" / "file"),
	              "rename into a subdirectory", code.value());

	int entries = 0;
	for (auto &entry : fs::recursive_directory_iterator(root)) {
		(void)entry;
		entries++;
	}
	regress_check(entries == 4, "recursive_directory_iterator sees a, a/b, a/link, a/b/moved", 0);

	regress_check(fs::canonical(root / "a" / "b" / ".." / "b", code) == fs::canonical(root / "a" / "b"),
	              "canonical resolves ..", code.value());

	std::uintmax_t removed = fs::remove_all(root, code);
	regress_check(!code && removed == 5 && !fs::exists(root), "remove_all removes 5 entries", code.value());
}

int main()
{
	check_exceptions();
	check_threads();
	check_filesystem();
	return regress_status();
}

// Each cross-built dependency used the way Nix uses it (compression of NARs, JSON of
// derivations, hashes, signatures, downloads, unpacking tarballs, coroutine sources and
// sinks, rendering --help): a round trip through the library, one PASS/FAIL line each.
#include <archive.h>
#include <archive_entry.h>
#include <boost/coroutine2/coroutine.hpp>
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <bzlib.h>
#include <curl/curl.h>
#include <lzma.h>
#include <nlohmann/json.hpp>
#include <openssl/evp.h>
#include <sodium.h>
#include <string.h>
#include <string>
#include <sys/queue.h>
#include <lowdown.h> // after sys/queue.h, which it uses
#include <unistd.h>
#include <vector>

#include "regress.h"

static const std::string input = [] {
	std::string text;
	for (int i = 0; i < 2000; i++)
		text += "/nix/store/" + std::to_string(i * 7919) + "-hello-2.12\n";
	return text;
}();

static void check_bzip2()
{
	std::vector<char> packed(input.size() + 1024), unpacked(input.size());
	unsigned packed_size = packed.size(), unpacked_size = unpacked.size();
	int ok = BZ2_bzBuffToBuffCompress(packed.data(), &packed_size, const_cast<char *>(input.data()),
	                                  input.size(), 9, 0, 0) == BZ_OK &&
	         BZ2_bzBuffToBuffDecompress(unpacked.data(), &unpacked_size, packed.data(), packed_size, 0, 0) == BZ_OK;
	regress_check(ok && packed_size < input.size() && std::string(unpacked.data(), unpacked_size) == input,
	              "bzip2 round trip", 0);
}

static void check_xz()
{
	std::vector<uint8_t> packed(input.size() + 1024), unpacked(input.size());
	size_t packed_size = 0, unpacked_size = 0;
	uint64_t memlimit = UINT64_MAX;
	size_t in_pos = 0;
	int ok = lzma_easy_buffer_encode(6, LZMA_CHECK_CRC64, nullptr, (const uint8_t *)input.data(), input.size(),
	                                 packed.data(), &packed_size, packed.size()) == LZMA_OK &&
	         lzma_stream_buffer_decode(&memlimit, 0, nullptr, packed.data(), &in_pos, packed_size,
	                                   unpacked.data(), &unpacked_size, unpacked.size()) == LZMA_OK;
	regress_check(ok && packed_size < input.size() &&
	              std::string((char *)unpacked.data(), unpacked_size) == input, "xz (liblzma) round trip", 0);
}

static void check_brotli()
{
	std::vector<uint8_t> packed(BrotliEncoderMaxCompressedSize(input.size())), unpacked(input.size());
	size_t packed_size = packed.size(), unpacked_size = unpacked.size();
	int ok = BrotliEncoderCompress(BROTLI_DEFAULT_QUALITY, BROTLI_DEFAULT_WINDOW, BROTLI_MODE_TEXT, input.size(),
	                               (const uint8_t *)input.data(), &packed_size, packed.data()) &&
	         BrotliDecoderDecompress(packed_size, packed.data(), &unpacked_size, unpacked.data()) ==
	                 BROTLI_DECODER_RESULT_SUCCESS;
	regress_check(ok && packed_size < input.size() &&
	              std::string((char *)unpacked.data(), unpacked_size) == input, "brotli round trip", 0);
}

static void check_json()
{
	auto drv = nlohmann::json::parse(R"({"outputs": {"out": {"path": "/nix/store/abc-hello"}}, "system": "x86_64-darwin"})");
	bool threw = false;
	try {
		(void)nlohmann::json::parse("{not json");
	} catch (const nlohmann::json::parse_error &) {
		threw = true;
	}
	regress_check(drv["outputs"]["out"]["path"] == "/nix/store/abc-hello" && drv["system"] == "x86_64-darwin" &&
	              threw, "nlohmann-json parses, and throws parse_error on bad input", 0);
}

static void check_openssl()
{
	// FIPS 180-2, appendix B.1: SHA-256("abc")
	static const unsigned char expected[32] = {
	        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23,
	        0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int size = 0;
	int ok = EVP_Digest("abc", 3, digest, &size, EVP_sha256(), nullptr);
	regress_check(ok && size == 32 && memcmp(digest, expected, 32) == 0, "openssl libcrypto SHA-256", 0);
}

static void check_sodium()
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sk[crypto_sign_SECRETKEYBYTES], sig[crypto_sign_BYTES];
	const auto *msg = (const unsigned char *)input.data();
	bool ok = sodium_init() >= 0 && crypto_sign_keypair(pk, sk) == 0 &&
	          crypto_sign_detached(sig, nullptr, msg, input.size(), sk) == 0 &&
	          crypto_sign_verify_detached(sig, msg, input.size(), pk) == 0;
	sig[0] ^= 1;
	regress_check(ok && crypto_sign_verify_detached(sig, msg, input.size(), pk) != 0,
	              "libsodium ed25519 signs, verifies, and rejects a changed signature", 0);
}

static size_t collect(char *data, size_t size, size_t count, void *into)
{
	static_cast<std::string *>(into)->append(data, size * count);
	return size * count;
}

static void check_curl()
{
	char path[] = "/tmp/deps-roundtrip-XXXXXX";
	int fd = mkstemp(path);
	bool wrote = fd >= 0 && write(fd, input.data(), input.size()) == (ssize_t)input.size();
	if (fd >= 0)
		close(fd);
	std::string got;
	CURL *curl = curl_easy_init();
	curl_easy_setopt(curl, CURLOPT_URL, (std::string("file://") + path).c_str());
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &got);
	CURLcode code = curl_easy_perform(curl);
	curl_easy_cleanup(curl);
	unlink(path);
	const curl_version_info_data *info = curl_version_info(CURLVERSION_NOW);
	regress_check(wrote && code == CURLE_OK && got == input && (info->features & CURL_VERSION_SSL),
	              "curl (with TLS) fetches a file:// URL", 0);
}

static void check_libarchive()
{
	std::vector<char> packed(input.size() + 65536);
	size_t used = 0;
	struct archive *out = archive_write_new();
	archive_write_set_format_pax_restricted(out);
	archive_write_add_filter_xz(out);
	bool ok = archive_write_open_memory(out, packed.data(), packed.size(), &used) == ARCHIVE_OK;
	struct archive_entry *entry = archive_entry_new();
	archive_entry_set_pathname(entry, "source/paths.txt");
	archive_entry_set_size(entry, input.size());
	archive_entry_set_filetype(entry, AE_IFREG);
	archive_entry_set_perm(entry, 0644);
	ok = ok && archive_write_header(out, entry) == ARCHIVE_OK &&
	     archive_write_data(out, input.data(), input.size()) == (la_ssize_t)input.size();
	archive_entry_free(entry);
	ok = archive_write_free(out) == ARCHIVE_OK && ok;

	struct archive *in = archive_read_new();
	archive_read_support_filter_all(in);
	archive_read_support_format_all(in);
	struct archive_entry *found = nullptr;
	std::string name, content(input.size(), '\0');
	ok = ok && archive_read_open_memory(in, packed.data(), used) == ARCHIVE_OK &&
	     archive_read_next_header(in, &found) == ARCHIVE_OK;
	if (ok) {
		name = archive_entry_pathname(found);
		ok = archive_read_data(in, content.data(), content.size()) == (la_ssize_t)content.size();
	}
	archive_read_free(in);
	regress_check(ok && name == "source/paths.txt" && content == input,
	              "libarchive writes and reads back an xz-compressed tarball", 0);
}

static void check_boost_context()
{
	// Nix's sinkToSource/sourceToSink run a producer as a boost coroutine
	using coroutine = boost::coroutines2::coroutine<int>;
	coroutine::pull_type numbers([](coroutine::push_type &sink) {
		for (int i = 1; i <= 100; i++)
			sink(i);
	});
	int sum = 0;
	for (int n : numbers)
		sum += n;
	regress_check(sum == 5050, "boost.context coroutines switch stacks", 0);
}

static void check_lowdown()
{
	struct lowdown_opts opts;
	memset(&opts, 0, sizeof opts);
	opts.type = LOWDOWN_TERM;
	opts.maxdepth = 20;
	opts.term.cols = 80;
	opts.feat = LOWDOWN_COMMONMARK | LOWDOWN_FENCED | LOWDOWN_DEFLIST | LOWDOWN_TABLES;
	const std::string markdown = "# Synopsis\n\n`nix build` *installable*\n";
	struct lowdown_buf *buf = nullptr;
	struct lowdown_doc *doc = lowdown_doc_new(&opts);
	size_t maxn = 0;
	struct lowdown_node *node = doc ? lowdown_doc_parse(doc, &maxn, markdown.data(), markdown.size(), nullptr)
	                                : nullptr;
	void *renderer = lowdown_term_new(&opts);
	std::string text;
	if (node && renderer && (buf = lowdown_buf_new(4096)) && lowdown_term_rndr(buf, renderer, node))
		text.assign(buf->data, buf->size);
	if (buf)
		lowdown_buf_free(buf);
	if (renderer)
		lowdown_term_free(renderer);
	if (node)
		lowdown_node_free(node);
	if (doc)
		lowdown_doc_free(doc);
	regress_check(text.find("Synopsis") != std::string::npos && text.find("nix build") != std::string::npos &&
	              text.find('#') == std::string::npos, "lowdown renders Markdown for a terminal", 0);
}

int main()
{
	check_bzip2();
	check_xz();
	check_brotli();
	check_json();
	check_openssl();
	check_sodium();
	check_curl();
	check_libarchive();
	check_boost_context();
	check_lowdown();
	return regress_status();
}

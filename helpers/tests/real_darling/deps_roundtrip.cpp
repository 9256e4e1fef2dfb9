// Each cross-built dependency used the way Nix uses it (compression of NARs, JSON of
// derivations): a round trip through the library, one PASS/FAIL line per library.
#include <brotli/decode.h>
#include <brotli/encode.h>
#include <bzlib.h>
#include <lzma.h>
#include <nlohmann/json.hpp>
#include <string>
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

int main()
{
	check_bzip2();
	check_xz();
	check_brotli();
	check_json();
	return regress_status();
}

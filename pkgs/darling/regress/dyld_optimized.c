/* dyld compiled with -O2: patches/darling/0012-dyld-optimize.patch. Darling's empty build
 * type compiled dyld at -O0, and dyld runs at every process start. The gain is
 * bench/process_start.py's to show (no timing here); this checks that the dyld this very
 * process was started by is the optimised build, by the size of its code: the
 * __TEXT,__text of /usr/lib/dyld is 1 224 617 bytes at -O0 and 897 337 at -O2 with the
 * pinned toolchain (the static libraries linked into it stay at Darling's flags). */
#include "regress.h"
#include <mach-o/dyld_images.h>
#include <mach-o/loader.h>
#include <mach/mach.h>

#define OPTIMISED_BELOW 1060000 /* halfway between the two builds */
#define FOUND_ABOVE 100000      /* smaller is no dyld at all: a parse gone wrong */

/* the size of __TEXT,__text of the image whose header is HEADER, or 0 */
static uint64_t text_size(const struct mach_header_64 *header)
{
	const struct load_command *cmd = (const struct load_command *)(header + 1);
	for (uint32_t i = 0; i < header->ncmds; i++) {
		if (cmd->cmd == LC_SEGMENT_64) {
			const struct segment_command_64 *seg = (const struct segment_command_64 *)cmd;
			const struct section_64 *sect = (const struct section_64 *)(seg + 1);
			for (uint32_t j = 0; j < seg->nsects; j++, sect++)
				if (strncmp(sect->segname, "__TEXT", 16) == 0 &&
				    strncmp(sect->sectname, "__text", 16) == 0)
					return sect->size;
		}
		cmd = (const struct load_command *)((const char *)cmd + cmd->cmdsize);
	}
	return 0;
}

int main(void)
{
	struct task_dyld_info info;
	mach_msg_type_number_t count = TASK_DYLD_INFO_COUNT;
	kern_return_t kr = task_info(mach_task_self(), TASK_DYLD_INFO, (task_info_t)&info, &count);
	regress_check(kr == KERN_SUCCESS, "task_info(TASK_DYLD_INFO) finds dyld", kr);
	if (kr != KERN_SUCCESS)
		return regress_status();

	const struct dyld_all_image_infos *images =
		(const struct dyld_all_image_infos *)(uintptr_t)info.all_image_info_addr;
	const struct mach_header_64 *dyld = (const struct mach_header_64 *)images->dyldImageLoadAddress;
	regress_check(dyld != NULL && dyld->magic == MH_MAGIC_64 && dyld->filetype == MH_DYLINKER,
		      "dyld's own Mach-O header is in memory", 0);
	if (dyld == NULL || dyld->magic != MH_MAGIC_64)
		return regress_status();

	uint64_t size = text_size(dyld);
	printf("(dyld's __TEXT,__text: %llu bytes)\n", (unsigned long long)size);
	regress_check(size > FOUND_ABOVE, "dyld's __TEXT,__text section found", 0);
	regress_check(size < OPTIMISED_BELOW, "dyld is the optimised build (its code under 1 060 000 bytes)", 0);
	return regress_status();
}

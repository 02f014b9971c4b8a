/* libFuzzer target: arbitrary bytes from a "web server" through fcgi2's record parser, as the addon drives it. */
#include <stddef.h>
#include <stdint.h>

#include "serve.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    ServeInit();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One input in three starts with bytes given from memory
     * (patch 0019), cut at a point that depends on the length only, so corpus entries keep their meaning. */
    size_t preread = size % 3 == 0 ? (size * 31) % (size + 1) : 0;
    ServeBytesPreread(data, size, preread, NULL, NULL, 0, NULL);
    return 0;
}

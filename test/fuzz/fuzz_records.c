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
    ServeBytes(data, size, NULL, NULL, 0, NULL);
    return 0;
}

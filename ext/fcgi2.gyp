# fcgi2 (libfcgi) as a static library for the addon; binding.gyp depends on 'ext/fcgi2.gyp:fcgi2'.
# Sources and include dirs must match ext/fcgi2.cmake (see ext/UPSTREAM.md).
{
  'variables': {
    # Same switch as binding.gyp's: instrument the vendored C too, where the
    # memory bugs would be (the addon target links the sanitizer runtimes).
    'sanitize%': 'false',
  },
  'targets': [
    {
      'target_name': 'fcgi2',
      'type': 'static_library',
      'sources': [
        'fcgi2/libfcgi/fcgiapp.c',
        'fcgi2/libfcgi/os_unix.c',
      ],
      'include_dirs': [
        'fcgi2/include',
        'config',
      ],
      # Vendored code: its warnings are upstream's, not ours to fix.
      # -fPIC: the archive is linked into a shared object (the .node) on every
      # architecture, not only where node-gyp's addon.gypi already adds it.
      # Hidden visibility: the addon links these symbols statically, so they
      # need not be exported, and a libfcgi.so loaded elsewhere in the process
      # cannot interpose on them (and bypass ext/patches).
      'cflags': ['-w', '-fPIC', '-fvisibility=hidden'],
      'xcode_settings': {
        'GCC_WARN_INHIBIT_ALL_WARNINGS': 'YES',
        'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
        'OTHER_CFLAGS': ['-w'],
      },
      'conditions': [
        ['sanitize=="true"', {
          'cflags': ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-g'],
        }],
      ],
      'direct_dependent_settings': {
        'include_dirs': [
          'fcgi2/include',
          'config',
        ],
      },
    },
  ],
}

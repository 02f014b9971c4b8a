# Primary build (node-gyp). CMakeLists.txt (cmake-js) builds the same sources; CI builds both.
{
  'variables': {
    # Link the system libfcgi instead of ext/fcgi2 (opt-in; our patches and limits are then absent).
    'use_system_libfcgi%': 'false',
    'sanitize%': 'false',
  },
  'targets': [
    {
      'target_name': 'libfcgi',
      'sources': [
        'native/accept_loop.cc',
        'native/addon.cc',
        'native/build_info.cc',
        'native/errors.cc',
        'native/fast_end.cc',
        'native/gate.cc',
        'native/js_poll.cc',
        'native/options.cc',
        'native/output.cc',
        'native/reactor.cc',
        'native/request.cc',
        'native/request_slot.cc',
        'native/server_io.cc',
        'native/socket.cc',
        'native/watchdog.cc',
        'native/worker_pool.cc',
      ],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': [
        'NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS', 'NODE_ADDON_API_DISABLE_DEPRECATED',
        # The build-info record (native/build_info.cc): a prebuild and a source build must say the same.
        'LIBFCGI_BUILD_FLAGS="builder=node-gyp use_system_libfcgi=<(use_system_libfcgi) sanitize=<(sanitize)"',
      ],
      'cflags': ['-Wall', '-Wextra', '-Werror', '-fvisibility=hidden'],
      'cflags_cc': ['-Wall', '-Wextra', '-Werror', '-fvisibility=hidden', '-std=c++17'],
      'xcode_settings': {
        'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
        'OTHER_CPLUSPLUSFLAGS': ['-Wall', '-Wextra', '-Werror', '-std=c++17'],
      },
      'conditions': [
        ['use_system_libfcgi=="true"', {
          'libraries': ['-lfcgi'],
          'defines': [
            'LIBFCGI_SYSTEM_LIBFCGI=1',
            'LIBFCGI_FCGI2_VERSION="<!(pkg-config --modversion fcgi 2>/dev/null || echo unknown)"',
            'LIBFCGI_FCGI2_PATCHES=""',
          ],
        }, {
          'dependencies': ['ext/fcgi2.gyp:fcgi2'],
          'defines': [
            'LIBFCGI_FCGI2_VERSION="<!(node scripts/fcgi2-build-info.js version)"',
            'LIBFCGI_FCGI2_PATCHES="<!(node scripts/fcgi2-build-info.js patches)"',
          ],
        }],
        ['sanitize=="true"', {
          'cflags_cc': ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-g'],
          'ldflags': ['-fsanitize=address,undefined'],
        }],
      ],
    },
  ],
}

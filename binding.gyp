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
        'native/acceptor.cc',
        'native/addon.cc',
        'native/errors.cc',
        'native/options.cc',
        'native/request.cc',
        'native/socket.cc',
      ],
      'include_dirs': ["<!(node -p \"require('node-addon-api').include_dir\")"],
      'defines': ['NAPI_VERSION=8', 'NAPI_DISABLE_CPP_EXCEPTIONS', 'NODE_ADDON_API_DISABLE_DEPRECATED'],
      'cflags': ['-Wall', '-Wextra', '-Werror', '-fvisibility=hidden'],
      'cflags_cc': ['-Wall', '-Wextra', '-Werror', '-fvisibility=hidden', '-std=c++17'],
      'xcode_settings': {
        'GCC_SYMBOLS_PRIVATE_EXTERN': 'YES',
        'OTHER_CPLUSPLUSFLAGS': ['-Wall', '-Wextra', '-Werror', '-std=c++17'],
      },
      'conditions': [
        ['use_system_libfcgi=="true"', {
          'libraries': ['-lfcgi'],
        }, {
          'dependencies': ['ext/fcgi2.gyp:fcgi2'],
        }],
        ['sanitize=="true"', {
          'cflags_cc': ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-g'],
          'ldflags': ['-fsanitize=address,undefined'],
        }],
      ],
    },
  ],
}

# node-gyp build of build/Release/marlin.node: the same sources and flags as
# CMakeLists.txt (the primary build, cmake-js).
#   npm run build:gyp         node-gyp rebuild with Node's headers (scripts/build-gyp.js)
#   MARLIN_CUDA_ARCHS="90"    GPU architectures (default 80;86;89;90; ";" or "," separated):
#                             machine code for each, plus PTX of the newest
#   CUDA_HOME=/opt/cuda       CUDA toolkit (default /usr/local/cuda)
# The CUDA runtime is linked statically, so the addon loads without a driver.
# cuBLAS (for the FP16 baseline) is linked when <cuda>/lib64/libcublas.so exists.
{
  'variables': {
    'variables': {
      'cuda_home%': '<!(echo ${CUDA_HOME:-/usr/local/cuda})',
    },
    'cuda_home%': '<(cuda_home)',
    'with_cublas%': '<!(test -e <(cuda_home)/lib64/libcublas.so && echo 1 || echo 0)',
    # -gencode=arch=compute_XX,code=sm_XX for each arch, code=compute_YY for the newest.
    'cuda_gencode': [
      '<!@(node -p "'
        'var a = (process.env.MARLIN_CUDA_ARCHS || \'\').split(/[;, ]+/).filter(Boolean);'
        'if (!a.length) a = [\'80\', \'86\', \'89\', \'90\'];'
        'a.forEach(function (x) { if (!/^[0-9]+[af]?$/.test(x)) {'
          ' console.error(\'binding.gyp: bad architecture in MARLIN_CUDA_ARCHS: \' + x + \' (expected e.g. 80;86;89;90)\'); process.exit(1); } });'
        'a = a.filter(function (x, i) { return a.indexOf(x) === i; });'
        'a.sort(function (x, y) { return parseInt(x, 10) - parseInt(y, 10); });'
        'var n = a[a.length - 1];'
        'a.map(function (x) { return \'-gencode=arch=compute_\' + x + \',code=sm_\' + x; })'
        '.concat(\'-gencode=arch=compute_\' + n + \',code=compute_\' + n).join(\' \')'
      '")',
    ],
  },
  'targets': [
    {
      'target_name': 'marlin',
      'sources': [
        # csrc/kernels/*.cu (through the nvcc rule below), csrc/addon/*.cc and,
        # when the folder exists, csrc/baseline/*.cc.
        '<!@(node -p "'
          '[\'csrc/kernels\', \'csrc/addon\', \'csrc/baseline\'].filter(function (d) { return require(\'fs\').existsSync(d); })'
          '.map(function (d) { return require(\'fs\').readdirSync(d).sort()'
          '.filter(function (f) { return /[.](cu|cc)$/.test(f); }).map(function (f) { return d + \'/\' + f; }).join(\' \'); })'
          '.join(\' \')'
        '")',
      ],
      'include_dirs': [
        '<!(node -p "require(\'node-addon-api\').include_dir")',
        'csrc/kernels',
        'csrc/baseline',
        '<(cuda_home)/include',
      ],
      'defines': [
        'NAPI_VERSION=8',
        'NAPI_CPP_EXCEPTIONS',
        'NODE_ADDON_API_DISABLE_DEPRECATED',
      ],
      'cflags_cc': ['-fexceptions'],
      'cflags_cc!': ['-fno-exceptions'],
      'libraries': [
        '<(cuda_home)/lib64/libcudart_static.a',
        '-ldl',
        '-lrt',
        '-lpthread',
      ],
      'conditions': [
        ['with_cublas==1', {
          'defines': ['MARLIN_WITH_CUBLAS=1'],
          'ldflags': ['-L<(cuda_home)/lib64', '-Wl,-rpath,<(cuda_home)/lib64'],
          'libraries': ['-lcublas'],
        }],
      ],
      'rules': [
        {
          'rule_name': 'nvcc',
          'extension': 'cu',
          # Header edits rebuild every kernel.
          'inputs': [
            '<!@(node -p "'
              'require(\'fs\').readdirSync(\'csrc/kernels\').sort()'
              '.filter(function (f) { return /[.](h|cuh)$/.test(f); }).map(function (f) { return \'csrc/kernels/\' + f; }).join(\' \')'
            '")',
          ],
          'outputs': ['<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o'],
          'message': 'NVCC <(RULE_INPUT_NAME)',
          'action': [
            '<(cuda_home)/bin/nvcc', '-c', '<(RULE_INPUT_PATH)', '-o', '<@(_outputs)',
            '-O3', '-lineinfo', '-std=c++17', '-Xcompiler', '-fPIC', '-DNDEBUG',
            '-Icsrc/kernels', '<@(cuda_gencode)',
          ],
          'process_outputs_as_sources': 1,
        },
      ],
    },
  ],
}

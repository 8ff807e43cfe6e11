# node-gyp build of build/Release/marlin.node: the same sources and flags as
# CMakeLists.txt (the primary build, cmake-js).
#   npm run build:gyp         node-gyp rebuild with Node's headers (scripts/build-gyp.js)
#   MARLIN_CUDA_ARCHS="90"    GPU architectures (default: those nvidia-smi reports, else
#                             80;86;89;90): machine code for each, plus PTX of the newest
#   MARLIN_LINEINFO=1         keep line information in the kernels (profiling)
#   CUDA_HOME=/opt/cuda       CUDA toolkit (default /usr/local/cuda)
# The kernel variants are generated from csrc/kernels/table.json by
# scripts/gen-kernels.js into build/generated/ when gyp configures.
# The CUDA runtime is linked statically, so the addon loads without a driver.
# cuBLAS (for the dense baseline) is linked when <cuda>/lib64/libcublas.so exists.
{
  'variables': {
    'variables': {
      'cuda_home%': '<!(echo ${CUDA_HOME:-/usr/local/cuda})',
    },
    'cuda_home%': '<(cuda_home)',
    'with_cublas%': '<!(test -e <(cuda_home)/lib64/libcublas.so && echo 1 || echo 0)',
    'cuda_lineinfo': ['<!@(node -p "process.env.MARLIN_LINEINFO === \'1\' ? \'-lineinfo\' : \'\'")'],
    # -1: where table.json's evictFirst puts the hint (build_options.h).
    'evict_first%': '<!(node -p "({ 0: 0, 1: 1 })[process.env.MARLIN_EVICT_FIRST] ?? -1")',
  },
  'targets': [
    {
      'target_name': 'marlin',
      'sources': [
        # csrc/kernels/*.{cu,cc} (.cu through the nvcc rule below), the generated
        # kernel variants, csrc/addon/*.cc and, when the folder exists, csrc/baseline/*.cc.
        '<!@(node -p "'
          '[\'csrc/kernels\', \'csrc/addon\', \'csrc/baseline\'].filter(function (d) { return require(\'fs\').existsSync(d); })'
          '.map(function (d) { return require(\'fs\').readdirSync(d).sort()'
          '.filter(function (f) { return /[.](cu|cc)$/.test(f); }).map(function (f) { return d + \'/\' + f; }).join(\' \'); })'
          '.join(\' \')'
        '")',
        '<!@(node scripts/gen-kernels.js --out build/generated --list)',
      ],
      'include_dirs': [
        '<!(node -p "require(\'node-addon-api\').include_dir")',
        'csrc/kernels',
        'build/generated',
        'csrc/baseline',
        '<(cuda_home)/include',
      ],
      'defines': [
        'MARLIN_EVICT_FIRST=<(evict_first)',
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
              '[\'csrc/kernels\', \'csrc/kernels/common\', \'csrc/kernels/mma\', \'csrc/kernels/wgmma\'].map(function (d) { return require(\'fs\').readdirSync(d).sort()'
              '.filter(function (f) { return /[.](h|cuh)$/.test(f); }).map(function (f) { return d + \'/\' + f; }).join(\' \'); })'
              '.join(\' \')'
            '")',
          ],
          'outputs': ['<(INTERMEDIATE_DIR)/<(RULE_INPUT_ROOT).o'],
          'message': 'NVCC <(RULE_INPUT_NAME)',
          # gen-kernels.js runs nvcc with the file's -gencode flags (the
          # build's architectures; sm_90a alone for the wgmma family).
          'action': [
            'node', 'scripts/gen-kernels.js', '--nvcc', '<(cuda_home)/bin/nvcc', '<(RULE_INPUT_PATH)', '<@(_outputs)', '--',
            '-O3', '<@(cuda_lineinfo)', '-std=c++17', '-Xcompiler', '-fPIC', '-DNDEBUG',
            '-Icsrc/kernels', '-Ibuild/generated', '-DMARLIN_EVICT_FIRST=<(evict_first)',
          ],
          'process_outputs_as_sources': 1,
        },
      ],
    },
  ],
}

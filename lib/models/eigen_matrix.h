#pragma once
// Eigen for the model kinds' math (mlp_model.cpp, token_model.cpp), included
// once with its diagnostics handled. Internal to lib/models: Eigen types never
// cross this library's headers (see CMakeLists.txt for why).

// GCC 12 reports -W(maybe-)uninitialized inside its own AVX-512 intrinsic
// headers when Eigen inlines them (GCC bug 105593, a false positive, seen
// with -march=native); the diagnostic points into those headers, so it is
// silenced only for what this include pulls in.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#ifndef __clang__  // clang has no -Wmaybe-uninitialized (and no GCC bug 105593)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#pragma GCC diagnostic pop

namespace servelab::models {

// The layout of safetensors data and of request tensors: row-major.
using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

}  // namespace servelab::models

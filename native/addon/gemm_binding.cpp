// PLACEHOLDER: registers nothing yet; filled by the work on this area.
#include "bindings.h"

namespace kiln {
namespace addon {

void registerGemmBindings(Napi::Env, Napi::Object) {}

}  // namespace addon
}  // namespace kiln

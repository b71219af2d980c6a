// The Plan class JavaScript sees: built from a plan spec object, its training
// steps run on the libuv thread pool and resolve Promises (the baton pattern:
// inputs are copied into the plan's own input buffer before the job is
// queued, so Execute touches no JavaScript value). One job at a time per plan;
// a second call while one is running is refused with a clear error.
//
// Parameter, gradient and optimizer-state arenas are handed to JavaScript as
// zero-copy Float32Arrays; each view keeps the plan alive (shared ownership),
// so no view can outlive the memory it points into.
#include <atomic>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <vector>

#include "../graph/plan.h"
#include "arguments.h"
#include "bindings.h"

namespace kiln {
namespace addon {
namespace {

const char* kClass = "Plan";

int64_t intField(Napi::Env env, Napi::Object object, const std::string& where, const char* field, int64_t minimum,
                 int64_t maximum, int64_t fallback, bool required) {
  Napi::Value value = object.Get(field);
  if (value.IsUndefined() && !required) return fallback;
  return integerPropertyOr(env, object, "Plan (" + where + ")", field, minimum, maximum, fallback);
}

// A finite number when present (NaN, Infinity or a non-number is refused).
double numberField(Napi::Env env, Napi::Object object, const std::string& where, const char* field, double fallback) {
  Napi::Value value = object.Get(field);
  if (value.IsUndefined()) return fallback;
  if (!value.IsNumber()) throwTypeError(env, "Plan (" + where + ")", field, "a finite number", "a non-number");
  const double number = value.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(number)) throwRangeError(env, "Plan (" + where + ")", field, "a finite number", "a non-finite number");
  return number;
}

// A string property; a missing one is "" (the caller reports what it needed).
std::string stringField(Napi::Env env, Napi::Object object, const std::string& where, const char* field) {
  Napi::Value value = object.Get(field);
  if (value.IsUndefined() || value.IsNull()) return "";
  if (!value.IsString()) throwTypeError(env, "Plan (" + where + ")", field, "a string", "a non-string");
  return value.As<Napi::String>().Utf8Value();
}

Napi::Object objectItem(Napi::Env env, Napi::Value value, const std::string& where, const char* field) {
  if (!value.IsObject() || value.IsArray() || value.IsFunction()) {
    throwTypeError(env, "Plan (" + where + ")", field, "spec objects", "a non-object item");
  }
  return value.As<Napi::Object>();
}

// Sizes derived from the spec, checked before Plan's own int64 arithmetic
// (validate() compares products of dimensions that are each up to 2^40).
constexpr int64_t kMaxElements = int64_t(1) << 40;
void checkCount(Napi::Env env, const std::string& where, const char* what, std::initializer_list<int64_t> factors) {
  const int64_t count = checkedProduct(env, "Plan (" + where + ")", what, factors);
  if (count > kMaxElements) {
    throwRangeError(env, "Plan (" + where + ")", what, "at most 2^40 values", std::to_string(count) + " values");
  }
}

std::vector<int> intList(Napi::Env env, Napi::Object object, const std::string& where, const char* field) {
  std::vector<int> result;
  Napi::Value value = object.Get(field);
  if (value.IsUndefined()) return result;
  if (!value.IsArray()) throwTypeError(env, "Plan (" + where + ")", field, "an array of integers", "something else");
  Napi::Array array = value.As<Napi::Array>();
  for (uint32_t i = 0; i < array.Length(); ++i) {
    Napi::Value item = array.Get(i);
    if (!item.IsNumber()) throwTypeError(env, "Plan (" + where + ")", field, "an array of integers", "a non-number");
    const double number = item.As<Napi::Number>().DoubleValue();
    if (!(number >= 0.0 && number < 2147483648.0 && number == std::floor(number))) {
      throwRangeError(env, "Plan (" + where + ")", field, "an array of integers in [0, 2^31)", "another number");
    }
    result.push_back(static_cast<int>(number));
  }
  return result;
}

Activation parseActivation(Napi::Env env, Napi::Object object, const std::string& where) {
  const std::string name = stringField(env, object, where, "activation");
  if (name.empty()) return Activation::Linear;
  if (name == "linear") return Activation::Linear;
  if (name == "relu") return Activation::Relu;
  if (name == "sigmoid") return Activation::Sigmoid;
  if (name == "tanh") return Activation::Tanh;
  throwRangeError(env, "Plan (" + where + ")", "activation", "'linear', 'relu', 'sigmoid' or 'tanh'", "'" + name + "'");
}

OpType parseOpType(Napi::Env env, const std::string& name, const std::string& where) {
  static const std::pair<const char*, OpType> kinds[] = {
      {"conv2d", OpType::Conv2D},       {"dense", OpType::Dense},           {"maxPool2d", OpType::MaxPool},
      {"avgPool2d", OpType::AvgPool},   {"globalAvgPool2d", OpType::GlobalAvgPool},
      {"activation", OpType::Activation}, {"softmax", OpType::Softmax},   {"batchNorm", OpType::BatchNorm},
      {"dropout", OpType::Dropout},     {"add", OpType::Add},               {"concatenate", OpType::Concatenate}};
  for (const auto& kind : kinds) {
    if (name == kind.first) return kind.second;
  }
  throwRangeError(env, "Plan (" + where + ")", "type", "a known op type", "'" + name + "'");
}

PlanSpec parseSpec(Napi::Env env, Napi::Object object) {
  constexpr int64_t kMax = int64_t(1) << 40;
  PlanSpec spec;
  spec.maxBatch = intField(env, object, "spec", "maxBatch", 1, 1 << 20, 1, true);
  spec.inputBuffer = static_cast<int>(intField(env, object, "spec", "inputBuffer", 0, 1 << 20, 0, true));
  spec.outputBuffer = static_cast<int>(intField(env, object, "spec", "outputBuffer", 0, 1 << 20, 0, true));
  Napi::Value sizes = object.Get("bufferSampleSizes");
  if (!sizes.IsArray()) throwTypeError(env, "Plan", "bufferSampleSizes", "an array of sizes", "something else");
  Napi::Array sizeArray = sizes.As<Napi::Array>();
  for (uint32_t i = 0; i < sizeArray.Length(); ++i) {
    Napi::Value item = sizeArray.Get(i);
    if (!item.IsNumber()) throwTypeError(env, "Plan", "bufferSampleSizes", "an array of sizes", "a non-number");
    const double number = item.As<Napi::Number>().DoubleValue();
    const int64_t size = number >= 1.0 && number <= static_cast<double>(kMax) && number == std::floor(number)
                             ? static_cast<int64_t>(number)
                             : 0;
    if (size < 1 || size > kMax) throwRangeError(env, "Plan", "bufferSampleSizes", "sizes in [1, 2^40]", std::to_string(size));
    if (size * spec.maxBatch > kMax) throwRangeError(env, "Plan", "bufferSampleSizes", "batch * size below 2^40", "an overflowing size");
    spec.bufferSampleSizes.push_back(size);
  }

  Napi::Value params = object.Get("params");
  if (!params.IsArray()) throwTypeError(env, "Plan", "params", "an array of parameter specs", "something else");
  Napi::Array paramArray = params.As<Napi::Array>();
  int64_t totalParams = 0;
  for (uint32_t i = 0; i < paramArray.Length(); ++i) {
    Napi::Object p = objectItem(env, paramArray.Get(i), "spec", "params");
    ParamSpec param;
    param.name = stringField(env, p, "param " + std::to_string(i), "name");
    param.size = intField(env, p, param.name, "size", 1, kMax, 1, true);
    totalParams += (param.size + 15) / 16 * 16;
    if (totalParams > kMax) throwRangeError(env, "Plan", "params", "at most 2^40 parameters in all", "more");
    Napi::Value trainable = p.Get("trainable");
    param.trainable = trainable.IsUndefined() ? true : trainable.ToBoolean().Value();
    spec.params.push_back(param);
  }

  Napi::Value ops = object.Get("ops");
  if (!ops.IsArray()) throwTypeError(env, "Plan", "ops", "an array of op specs", "something else");
  Napi::Array opArray = ops.As<Napi::Array>();
  for (uint32_t i = 0; i < opArray.Length(); ++i) {
    Napi::Value opValue = opArray.Get(i);
    if (!opValue.IsObject()) throwTypeError(env, "Plan", "ops", "op spec objects", "something else");
    Napi::Object o = objectItem(env, opValue, "spec", "ops");
    OpSpec op;
    op.name = o.Get("name").IsString() ? o.Get("name").As<Napi::String>().Utf8Value() : "op" + std::to_string(i);
    op.type = parseOpType(env, stringField(env, o, op.name, "type"), op.name);
    op.inputs = intList(env, o, op.name, "inputs");
    op.output = static_cast<int>(intField(env, o, op.name, "output", 0, 1 << 20, 0, true));
    op.params = intList(env, o, op.name, "params");
    op.activation = parseActivation(env, o, op.name);
    if (o.Get("conv").IsObject()) {
      Napi::Object c = o.Get("conv").As<Napi::Object>();
      Conv2DShape& s = op.conv;
      s.inH = intField(env, c, op.name, "inH", 1, kMax, 1, true);
      s.inW = intField(env, c, op.name, "inW", 1, kMax, 1, true);
      s.inC = intField(env, c, op.name, "inC", 1, kMax, 1, true);
      s.outC = intField(env, c, op.name, "outC", 1, kMax, 1, true);
      s.kernelH = intField(env, c, op.name, "kernelH", 1, 1 << 16, 1, true);
      s.kernelW = intField(env, c, op.name, "kernelW", 1, 1 << 16, 1, true);
      s.strideH = intField(env, c, op.name, "strideH", 1, 1 << 16, 1, false);
      s.strideW = intField(env, c, op.name, "strideW", 1, 1 << 16, 1, false);
      s.padTop = intField(env, c, op.name, "padTop", 0, 1 << 16, 0, false);
      s.padBottom = intField(env, c, op.name, "padBottom", 0, 1 << 16, 0, false);
      s.padLeft = intField(env, c, op.name, "padLeft", 0, 1 << 16, 0, false);
      s.padRight = intField(env, c, op.name, "padRight", 0, 1 << 16, 0, false);
      s.dilationH = intField(env, c, op.name, "dilationH", 1, 1 << 16, 1, false);
      s.dilationW = intField(env, c, op.name, "dilationW", 1, 1 << 16, 1, false);
      checkCount(env, op.name, "conv input", {s.inH, s.inW, s.inC});
      checkCount(env, op.name, "conv kernel", {s.kernelH, s.kernelW, s.inC, s.outC});
      checkCount(env, op.name, "conv padding", {s.inH + s.padTop + s.padBottom, s.inW + s.padLeft + s.padRight, s.inC});
      checkCount(env, op.name, "conv dilation",
                 {s.inH + (s.kernelH - 1) * s.dilationH, s.inW + (s.kernelW - 1) * s.dilationW, s.outC});
      if (s.outH() >= 1 && s.outW() >= 1) checkCount(env, op.name, "conv output", {s.outH(), s.outW(), s.outC});
    }
    if (o.Get("pool").IsObject()) {
      Napi::Object c = o.Get("pool").As<Napi::Object>();
      Pool2DShape& s = op.pool;
      s.inH = intField(env, c, op.name, "inH", 1, kMax, 1, true);
      s.inW = intField(env, c, op.name, "inW", 1, kMax, 1, true);
      s.channels = intField(env, c, op.name, "channels", 1, kMax, 1, true);
      s.windowH = intField(env, c, op.name, "windowH", 1, 1 << 16, 1, true);
      s.windowW = intField(env, c, op.name, "windowW", 1, 1 << 16, 1, true);
      s.strideH = intField(env, c, op.name, "strideH", 1, 1 << 16, 1, false);
      s.strideW = intField(env, c, op.name, "strideW", 1, 1 << 16, 1, false);
      s.padTop = intField(env, c, op.name, "padTop", 0, 1 << 16, 0, false);
      s.padBottom = intField(env, c, op.name, "padBottom", 0, 1 << 16, 0, false);
      s.padLeft = intField(env, c, op.name, "padLeft", 0, 1 << 16, 0, false);
      s.padRight = intField(env, c, op.name, "padRight", 0, 1 << 16, 0, false);
      checkCount(env, op.name, "pool input", {s.inH, s.inW, s.channels});
      if (s.outH() >= 1 && s.outW() >= 1) checkCount(env, op.name, "pool output", {s.outH(), s.outW(), s.channels});
    }
    op.inFeatures = intField(env, o, op.name, "inFeatures", 0, kMax, 0, false);
    op.units = intField(env, o, op.name, "units", 0, kMax, 0, false);
    op.spatial = intField(env, o, op.name, "spatial", 1, kMax, 1, false);
    op.channels = intField(env, o, op.name, "channels", 0, kMax, 0, false);
    checkCount(env, op.name, "inFeatures * units", {op.inFeatures, op.units});
    checkCount(env, op.name, "spatial * channels", {op.spatial, op.channels});
    op.epsilon = static_cast<float>(numberField(env, o, op.name, "epsilon", 1e-3));
    op.momentum = static_cast<float>(numberField(env, o, op.name, "momentum", 0.01));
    op.rate = static_cast<float>(numberField(env, o, op.name, "rate", 0.0));
    op.seed = static_cast<uint64_t>(intField(env, o, op.name, "seed", 0, int64_t(1) << 53, 0, false));
    if (o.Get("concatChannels").IsArray()) {
      int64_t total = 0;
      for (int c : intList(env, o, op.name, "concatChannels")) {
        op.concatChannels.push_back(c);
        total += c;
      }
      checkCount(env, op.name, "spatial * concatenated channels", {op.spatial, total});
    }
    spec.ops.push_back(op);
  }

  const std::string loss = stringField(env, object, "spec", "loss");
  if (loss == "softmaxCrossEntropy") spec.loss = LossType::SoftmaxCrossEntropy;
  else if (loss == "meanSquaredError") spec.loss = LossType::MeanSquaredError;
  else throwRangeError(env, "Plan", "loss", "'softmaxCrossEntropy' or 'meanSquaredError'", "'" + loss + "'");

  Napi::Value optimizerValue = object.Get("optimizer");
  if (!optimizerValue.IsObject()) throwTypeError(env, "Plan", "optimizer", "an optimizer spec", "something else");
  Napi::Object o = optimizerValue.As<Napi::Object>();
  const std::string kind = stringField(env, o, "optimizer", "kind");
  OptimizerSpec& optimizer = spec.optimizer;
  if (kind == "sgd") optimizer.kind = OptimizerSpec::Kind::Sgd;
  else if (kind == "adam") optimizer.kind = OptimizerSpec::Kind::Adam;
  else throwRangeError(env, "Plan", "optimizer.kind", "'sgd' or 'adam'", "'" + kind + "'");
  optimizer.momentum = static_cast<float>(numberField(env, o, "optimizer", "momentum", 0.0));
  optimizer.nesterov = o.Get("nesterov").ToBoolean().Value();
  optimizer.weightDecay = static_cast<float>(numberField(env, o, "optimizer", "weightDecay", 0.0));
  optimizer.beta1 = static_cast<float>(numberField(env, o, "optimizer", "beta1", 0.9));
  optimizer.beta2 = static_cast<float>(numberField(env, o, "optimizer", "beta2", 0.999));
  optimizer.epsilon = static_cast<float>(numberField(env, o, "optimizer", "epsilon", 1e-7));
  optimizer.decoupledWeightDecay = o.Get("decoupledWeightDecay").ToBoolean().Value();
  return spec;
}

// The plan's buffers, roughly: parameters, gradients, optimizer state, and
// each activation buffer with its gradient, for the maximum batch.
int64_t nativeBytes(const Plan& plan) {
  int64_t floats = 2 * plan.parameterCount() + plan.optimizerStateCount();
  for (int64_t size : plan.spec().bufferSampleSizes) floats += 2 * size * plan.spec().maxBatch;
  return floats * static_cast<int64_t>(sizeof(float));
}

struct PlanHandle {
  std::shared_ptr<Plan> plan;
  std::atomic<bool> busy{false};
};

enum class JobKind { Train, Gradients, Evaluate, Predict };

class PlanJob : public Napi::AsyncWorker {
 public:
  PlanJob(Napi::Env env, std::shared_ptr<PlanHandle> handle, JobKind kind, int64_t batch, std::vector<int32_t> labels,
          std::vector<float> targets, float learningRate)
      : Napi::AsyncWorker(env, "kiln.Plan"),
        deferred_(Napi::Promise::Deferred::New(env)),
        handle_(std::move(handle)),
        kind_(kind),
        batch_(batch),
        labels_(std::move(labels)),
        targets_(std::move(targets)),
        learningRate_(learningRate) {}

  Napi::Promise promise() { return deferred_.Promise(); }
  void keepOutput(Napi::Float32Array output) { output_ = Napi::Persistent(output); }
  // Evaluate without folding batch norms into convolutions (every buffer kept).
  void setExact(bool exact) { exact_ = exact; }

  void Execute() override {
    try {
      Plan& plan = *handle_->plan;
      const int32_t* labels = labels_.empty() ? nullptr : labels_.data();
      const float* targets = targets_.empty() ? nullptr : targets_.data();
      float* images = plan.inputBuffer();
      switch (kind_) {
        case JobKind::Train: result_ = plan.trainStep(batch_, images, labels, targets, learningRate_); break;
        case JobKind::Gradients: result_ = plan.computeGradients(batch_, images, labels, targets); break;
        case JobKind::Evaluate: result_ = plan.evaluate(batch_, images, labels, targets, exact_); break;
        case JobKind::Predict: result_ = plan.evaluate(batch_, images, labels, targets); break;
      }
    } catch (const std::exception& error) {
      SetError(std::string("kiln.Plan: ") + error.what());
    }
  }

  void OnOK() override {
    handle_->busy = false;
    Napi::Env env = Env();
    if (kind_ == JobKind::Predict) {
      Napi::Float32Array output = output_.Value().As<Napi::Float32Array>();
      const Plan& plan = *handle_->plan;
      const size_t count = static_cast<size_t>(batch_ * plan.outputSize());
      if (output.ElementLength() >= count && output.Data() != nullptr) {
        std::copy(plan.outputBuffer(), plan.outputBuffer() + count, output.Data());
      }
    }
    Napi::Object result = Napi::Object::New(env);
    result.Set("loss", result_.loss);
    result.Set("correct", static_cast<double>(result_.correct));
    result.Set("skipped", result_.skipped);
    result.Set("weightsNonFinite", result_.weightsNonFinite);
    deferred_.Resolve(result);
  }

  void OnError(const Napi::Error& error) override {
    handle_->busy = false;
    deferred_.Reject(error.Value());
  }

  // When a worker thread is terminated mid-step, the step still completes on
  // the libuv pool, but its environment can no longer run JavaScript: settling
  // the promise fails, and node-addon-api rethrows that failure as a C++
  // exception out of libuv's callback, which aborts the whole process. Such a
  // job only releases the plan (nobody is left to see the promise).
  void OnWorkComplete(Napi::Env env, napi_status status) override {
    try {
      Napi::AsyncWorker::OnWorkComplete(env, status);  // settles, then deletes this job
    } catch (const std::exception&) {
      handle_->busy = false;
      Destroy();
    }
  }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<PlanHandle> handle_;
  JobKind kind_;
  int64_t batch_;
  std::vector<int32_t> labels_;
  std::vector<float> targets_;
  float learningRate_;
  bool exact_ = false;
  StepResult result_;
  Napi::Reference<Napi::Float32Array> output_;
};

class PlanWrap : public Napi::ObjectWrap<PlanWrap> {
 public:
  static Napi::Function define(Napi::Env env) {
    return DefineClass(env, kClass,
                       {InstanceMethod("parameters", &PlanWrap::parameters),
                        InstanceMethod("gradients", &PlanWrap::gradients),
                        InstanceMethod("optimizerState", &PlanWrap::optimizerState),
                        InstanceMethod("paramOffsets", &PlanWrap::paramOffsets),
                        InstanceMethod("trainStep", &PlanWrap::trainStep),
                        InstanceMethod("computeGradients", &PlanWrap::computeGradients),
                        InstanceMethod("evaluate", &PlanWrap::evaluate),
                        InstanceMethod("predict", &PlanWrap::predict),
                        InstanceMethod("readBuffer", &PlanWrap::readBuffer),
                        InstanceMethod("updateCount", &PlanWrap::updateCount),
                        InstanceMethod("setUpdateCount", &PlanWrap::setUpdateCount),
                        InstanceMethod("busy", &PlanWrap::busy)});
  }

  explicit PlanWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PlanWrap>(info) {
    Napi::Object specObject = objectArgument(info, 0, "Plan", "spec");
    PlanSpec spec = parseSpec(info.Env(), specObject);
    handle_ = std::make_shared<PlanHandle>();
    try {
      // V8 cannot see the plan's native buffers (megabytes per plan), so it
      // would collect dropped models only when the JS heap itself fills up,
      // and a loop that builds models grows the RSS by hundreds of MB. The
      // plan's size is reported while it lives; the deleter runs on this
      // thread (the last owner is a finalizer, the Plan object or a job).
      std::unique_ptr<Plan> plan = std::make_unique<Plan>(std::move(spec));
      const int64_t bytes = nativeBytes(*plan);
      napi_env env = info.Env();
      handle_->plan = std::shared_ptr<Plan>(plan.release(), [env, bytes](Plan* owned) {
        delete owned;
        int64_t total = 0;
        napi_adjust_external_memory(env, -bytes, &total);
      });
      int64_t total = 0;
      napi_adjust_external_memory(env, bytes, &total);
    } catch (const std::invalid_argument& error) {
      throw Napi::Error::New(info.Env(), error.what());
    } catch (const std::bad_alloc&) {
      throw Napi::RangeError::New(info.Env(), "kiln.Plan: out of memory allocating the plan's buffers");
    } catch (const std::exception& error) {
      // Anything else must still reach JavaScript as an exception, not abort.
      throw Napi::Error::New(info.Env(), std::string("kiln.Plan: ") + error.what());
    }
  }

 private:
  Napi::Value view(Napi::Env env, float* data, int64_t count) {
    // The view owns a share of the plan: the memory lives as long as any view.
    auto* keepAlive = new std::shared_ptr<Plan>(handle_->plan);
    Napi::ArrayBuffer buffer = Napi::ArrayBuffer::New(
        env, data, static_cast<size_t>(count) * sizeof(float),
        [](Napi::Env, void*, std::shared_ptr<Plan>* owner) { delete owner; }, keepAlive);
    return Napi::Float32Array::New(env, static_cast<size_t>(count), buffer, 0);
  }

  Napi::Value parameters(const Napi::CallbackInfo& info) {
    return view(info.Env(), handle_->plan->parameters(), handle_->plan->parameterCount());
  }
  Napi::Value gradients(const Napi::CallbackInfo& info) {
    return view(info.Env(), handle_->plan->gradients(), handle_->plan->parameterCount());
  }
  Napi::Value optimizerState(const Napi::CallbackInfo& info) {
    return view(info.Env(), handle_->plan->optimizerState(), handle_->plan->optimizerStateCount());
  }
  Napi::Value paramOffsets(const Napi::CallbackInfo& info) {
    const Plan& plan = *handle_->plan;
    Napi::Array result = Napi::Array::New(info.Env(), plan.spec().params.size());
    for (size_t i = 0; i < plan.spec().params.size(); ++i) {
      result.Set(static_cast<uint32_t>(i), static_cast<double>(plan.paramOffset(static_cast<int>(i))));
    }
    return result;
  }

  void checkIdle(Napi::Env env, const char* method) {
    if (handle_->busy) {
      throw Napi::Error::New(env, std::string("kiln.Plan.") + method +
                                      ": the model is already running a step; await the previous call first");
    }
  }

  // Reads (images, labels|null, targets|null, count) and fills the input buffer.
  PlanJob* makeJob(const Napi::CallbackInfo& info, const char* method, JobKind kind, float learningRate) {
    Napi::Env env = info.Env();
    checkIdle(env, method);
    Plan& plan = *handle_->plan;
    const int64_t batch = integerArgument(info, 3, method, "count", 1, plan.spec().maxBatch);
    const float* images = float32ArrayArgument(info, 0, method, "images", -1);
    const int64_t need = batch * plan.inputSize();
    if (static_cast<int64_t>(info[0].As<Napi::Float32Array>().ElementLength()) < need) {
      throwRangeError(env, method, "images", "at least " + std::to_string(need) + " values (count * input size)",
                      std::to_string(info[0].As<Napi::Float32Array>().ElementLength()) + " values");
    }
    std::vector<int32_t> labels;
    std::vector<float> targets;
    if (!info[1].IsNull() && !info[1].IsUndefined()) {
      const int32_t* data = int32ArrayArgument(info, 1, method, "labels", -1);
      if (static_cast<int64_t>(info[1].As<Napi::Int32Array>().ElementLength()) < batch) {
        throwRangeError(env, method, "labels", "at least " + std::to_string(batch) + " labels", "fewer");
      }
      const int64_t classes = plan.outputSize();
      for (int64_t i = 0; i < batch; ++i) {
        if (data[i] < 0 || data[i] >= classes) {
          throwRangeError(env, method, "labels", "labels in [0, " + std::to_string(classes - 1) + "]",
                          std::to_string(data[i]) + " at index " + std::to_string(i));
        }
      }
      labels.assign(data, data + batch);
    }
    if (!info[2].IsNull() && !info[2].IsUndefined()) {
      const float* data = float32ArrayArgument(info, 2, method, "targets", -1);
      const int64_t needTargets = batch * plan.outputSize();
      if (static_cast<int64_t>(info[2].As<Napi::Float32Array>().ElementLength()) < needTargets) {
        throwRangeError(env, method, "targets", "at least " + std::to_string(needTargets) + " values", "fewer");
      }
      targets.assign(data, data + needTargets);
    }
    if ((kind == JobKind::Train || kind == JobKind::Gradients) && labels.empty() && targets.empty()) {
      throwTypeError(env, method, "labels", "labels (Int32Array) or targets (Float32Array)", "neither");
    }
    std::copy(images, images + need, plan.inputBuffer());
    handle_->busy = true;
    return new PlanJob(env, handle_, kind, batch, std::move(labels), std::move(targets), learningRate);
  }

  Napi::Value trainStep(const Napi::CallbackInfo& info) {
    const float learningRate = static_cast<float>(numberArgument(info, 4, "Plan.trainStep", "learningRate"));
    PlanJob* job = makeJob(info, "Plan.trainStep", JobKind::Train, learningRate);
    job->Queue();
    return job->promise();
  }

  Napi::Value computeGradients(const Napi::CallbackInfo& info) {
    PlanJob* job = makeJob(info, "Plan.computeGradients", JobKind::Gradients, 0.0f);
    job->Queue();
    return job->promise();
  }

  Napi::Value evaluate(const Napi::CallbackInfo& info) {
    PlanJob* job = makeJob(info, "Plan.evaluate", JobKind::Evaluate, 0.0f);
    job->setExact(info.Length() > 4 && info[4].IsBoolean() && info[4].As<Napi::Boolean>().Value());
    job->Queue();
    return job->promise();
  }

  // predict(images, count, output)
  Napi::Value predict(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    checkIdle(env, "predict");
    Plan& plan = *handle_->plan;
    const int64_t batch = integerArgument(info, 1, "Plan.predict", "count", 1, plan.spec().maxBatch);
    const float* images = float32ArrayArgument(info, 0, "Plan.predict", "images", -1);
    const int64_t need = batch * plan.inputSize();
    if (static_cast<int64_t>(info[0].As<Napi::Float32Array>().ElementLength()) < need) {
      throwRangeError(env, "Plan.predict", "images", "at least " + std::to_string(need) + " values", "fewer");
    }
    float32ArrayArgument(info, 2, "Plan.predict", "output", batch * plan.outputSize());
    std::copy(images, images + need, plan.inputBuffer());
    handle_->busy = true;
    auto* job = new PlanJob(env, handle_, JobKind::Predict, batch, {}, {}, 0.0f);
    job->keepOutput(info[2].As<Napi::Float32Array>());
    job->Queue();
    return job->promise();
  }

  // readBuffer(buffer, output): activations of the last forward pass.
  Napi::Value readBuffer(const Napi::CallbackInfo& info) {
    checkIdle(info.Env(), "readBuffer");
    Plan& plan = *handle_->plan;
    const int64_t buffer =
        integerArgument(info, 0, "Plan.readBuffer", "buffer", 0, static_cast<int64_t>(plan.spec().bufferSampleSizes.size()) - 1);
    if (!plan.hasBuffer(static_cast<int>(buffer)) || plan.lastBatch() == 0) {
      throwRangeError(info.Env(), "Plan.readBuffer", "buffer", "a buffer the plan computes, after a forward pass",
                      "buffer " + std::to_string(buffer));
    }
    const int64_t count = plan.lastBatch() * plan.spec().bufferSampleSizes[buffer];
    float* out = float32ArrayArgument(info, 1, "Plan.readBuffer", "output", count);
    plan.readBuffer(static_cast<int>(buffer), plan.lastBatch(), out);
    return info.Env().Undefined();
  }

  Napi::Value updateCount(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), static_cast<double>(handle_->plan->updateCount()));
  }
  Napi::Value setUpdateCount(const Napi::CallbackInfo& info) {
    checkIdle(info.Env(), "setUpdateCount");
    handle_->plan->setUpdateCount(integerArgument(info, 0, "Plan.setUpdateCount", "updates", 0, int64_t(1) << 52));
    return info.Env().Undefined();
  }
  Napi::Value busy(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), handle_->busy.load()); }

  std::shared_ptr<PlanHandle> handle_;
};

}  // namespace

void registerPlanBindings(Napi::Env env, Napi::Object exports) {
  exports.Set(kClass, PlanWrap::define(env));
}

}  // namespace addon
}  // namespace kiln

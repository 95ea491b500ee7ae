// drm.cc: the thin libdrm layer behind native/libdrm/index.ts.
//
// Each function checks its arguments, makes one libdrm (or open/mmap) call and converts the result
// to plain JS values. A failure throws Napi::Error "cannot <what> <object>: <ERRNO>" with `code`
// (the errno name) and `errno` (the number) set, like Node's own system errors. Everything else
// (which connector, which mode, retries, restoring the CRTC) is policy and lives in TypeScript.
#include <napi.h>

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <map>
#include <string>
#include <vector>
#include <sys/mman.h>
#include <unistd.h>
#include <xf86drm.h>
#include <xf86drmMode.h>

namespace {

// Mappings handed out by mapDumb, so unmapDumb only ever munmaps what it mapped.
std::map<void*, size_t> mappings;

std::string ErrnoName(int err) {
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 32))
  const char* name = strerrorname_np(err);
  if (name != nullptr) return name;
#endif
  return "errno " + std::to_string(err);
}

// Throws "cannot <what>: <ERRNO>" with `code` (and `path`, when one is named), as Node's own errors
// carry them. libdrm's mode calls return -errno, the others -1 with errno set.
[[noreturn]] void ThrowErrno(Napi::Env env, const std::string& what, int ret = -1, const std::string& path = "") {
  int err = ret < -1 ? -ret : errno;
  std::string code = ErrnoName(err);
  Napi::Error error = Napi::Error::New(env, "cannot " + what + ": " + code);
  error.Set("code", Napi::String::New(env, code));
  error.Set("errno", Napi::Number::New(env, err));
  if (!path.empty()) error.Set("path", Napi::String::New(env, path));
  throw error;
}

uint32_t Uint32Arg(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (index >= info.Length() || !info[index].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be a number");
  }
  double value = info[index].As<Napi::Number>().DoubleValue();
  if (value < 0 || value > 4294967295.0 || value != static_cast<double>(static_cast<uint32_t>(value))) {
    throw Napi::TypeError::New(info.Env(), std::string(name) + " must be an unsigned 32-bit integer");
  }
  return static_cast<uint32_t>(value);
}

int FdArg(const Napi::CallbackInfo& info) {
  uint32_t fd = Uint32Arg(info, 0, "fd");
  if (fd > 0x7fffffff) throw Napi::TypeError::New(info.Env(), "fd out of range");
  return static_cast<int>(fd);
}

std::string Id(const char* object, uint32_t id) { return std::string(object) + " " + std::to_string(id); }

Napi::Array Ids(Napi::Env env, const uint32_t* ids, int count) {
  Napi::Array array = Napi::Array::New(env, count);
  for (int i = 0; i < count; i++) array.Set(i, ids[i]);
  return array;
}

Napi::Object ModeToJs(Napi::Env env, const drmModeModeInfo& mode) {
  Napi::Object js = Napi::Object::New(env);
  js.Set("name", std::string(mode.name, strnlen(mode.name, DRM_DISPLAY_MODE_LEN)));
  js.Set("clock", mode.clock);
  js.Set("hdisplay", mode.hdisplay);
  js.Set("hsyncStart", mode.hsync_start);
  js.Set("hsyncEnd", mode.hsync_end);
  js.Set("htotal", mode.htotal);
  js.Set("hskew", mode.hskew);
  js.Set("vdisplay", mode.vdisplay);
  js.Set("vsyncStart", mode.vsync_start);
  js.Set("vsyncEnd", mode.vsync_end);
  js.Set("vtotal", mode.vtotal);
  js.Set("vscan", mode.vscan);
  js.Set("vrefresh", mode.vrefresh);
  js.Set("flags", mode.flags);
  js.Set("type", mode.type);
  return js;
}

uint32_t ModeField(Napi::Env env, Napi::Object js, const char* key) {
  Napi::Value value = js.Get(key);
  if (!value.IsNumber()) throw Napi::TypeError::New(env, std::string("mode.") + key + " must be a number");
  return value.As<Napi::Number>().Uint32Value();
}

drmModeModeInfo ModeFromJs(Napi::Env env, Napi::Value value) {
  if (!value.IsObject()) throw Napi::TypeError::New(env, "mode must be an object from getConnector or null");
  Napi::Object js = value.As<Napi::Object>();
  drmModeModeInfo mode{};
  mode.clock = ModeField(env, js, "clock");
  mode.hdisplay = ModeField(env, js, "hdisplay");
  mode.hsync_start = ModeField(env, js, "hsyncStart");
  mode.hsync_end = ModeField(env, js, "hsyncEnd");
  mode.htotal = ModeField(env, js, "htotal");
  mode.hskew = ModeField(env, js, "hskew");
  mode.vdisplay = ModeField(env, js, "vdisplay");
  mode.vsync_start = ModeField(env, js, "vsyncStart");
  mode.vsync_end = ModeField(env, js, "vsyncEnd");
  mode.vtotal = ModeField(env, js, "vtotal");
  mode.vscan = ModeField(env, js, "vscan");
  mode.vrefresh = ModeField(env, js, "vrefresh");
  mode.flags = ModeField(env, js, "flags");
  mode.type = ModeField(env, js, "type");
  std::string name = js.Get("name").ToString().Utf8Value();
  strncpy(mode.name, name.c_str(), DRM_DISPLAY_MODE_LEN - 1);
  return mode;
}

// open(path): opens a card or render node read-write with O_CLOEXEC; returns the fd.
Napi::Value Open(const Napi::CallbackInfo& info) {
  if (info.Length() < 1 || !info[0].IsString()) throw Napi::TypeError::New(info.Env(), "path must be a string");
  std::string path = info[0].As<Napi::String>().Utf8Value();
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) ThrowErrno(info.Env(), "open " + path, -1, path);
  return Napi::Number::New(info.Env(), fd);
}

// close(fd): closes a descriptor returned by open.
Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = FdArg(info);
  if (close(fd) != 0) ThrowErrno(info.Env(), "close fd " + std::to_string(fd));
  return info.Env().Undefined();
}

// getVersion(fd): the driver's name, version numbers, date and description.
Napi::Value GetVersion(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  drmVersionPtr version = drmGetVersion(FdArg(info));
  if (version == nullptr) ThrowErrno(env, "get driver version");
  Napi::Object js = Napi::Object::New(env);
  js.Set("name", std::string(version->name, version->name_len));
  js.Set("major", version->version_major);
  js.Set("minor", version->version_minor);
  js.Set("patchlevel", version->version_patchlevel);
  js.Set("date", std::string(version->date, version->date_len));
  js.Set("description", std::string(version->desc, version->desc_len));
  drmFreeVersion(version);
  return js;
}

// getCap(fd, cap): the value of a DRM_CAP_* capability (e.g. DRM_CAP_DUMB_BUFFER = 1).
Napi::Value GetCap(const Napi::CallbackInfo& info) {
  uint64_t value = 0;
  uint32_t cap = Uint32Arg(info, 1, "cap");
  int ret = drmGetCap(FdArg(info), cap, &value);
  if (ret != 0) ThrowErrno(info.Env(), "get capability " + std::to_string(cap), ret);
  return Napi::Number::New(info.Env(), static_cast<double>(value));
}

// setMaster(fd): becomes DRM master (needed for modesetting).
Napi::Value SetMaster(const Napi::CallbackInfo& info) {
  if (drmSetMaster(FdArg(info)) != 0) ThrowErrno(info.Env(), "set master");
  return info.Env().Undefined();
}

// dropMaster(fd): gives DRM master up.
Napi::Value DropMaster(const Napi::CallbackInfo& info) {
  if (drmDropMaster(FdArg(info)) != 0) ThrowErrno(info.Env(), "drop master");
  return info.Env().Undefined();
}

// getResources(fd): the ids of framebuffers, CRTCs, connectors and encoders, and the size limits.
Napi::Value GetResources(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  drmModeRes* res = drmModeGetResources(FdArg(info));
  if (res == nullptr) ThrowErrno(env, "get resources");
  Napi::Object js = Napi::Object::New(env);
  js.Set("framebuffers", Ids(env, res->fbs, res->count_fbs));
  js.Set("crtcs", Ids(env, res->crtcs, res->count_crtcs));
  js.Set("connectors", Ids(env, res->connectors, res->count_connectors));
  js.Set("encoders", Ids(env, res->encoders, res->count_encoders));
  js.Set("minWidth", res->min_width);
  js.Set("maxWidth", res->max_width);
  js.Set("minHeight", res->min_height);
  js.Set("maxHeight", res->max_height);
  drmModeFreeResources(res);
  return js;
}

// getConnector(fd, id): type, connection state (1 connected, 2 disconnected, 3 unknown), encoders, modes.
Napi::Value GetConnector(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = Uint32Arg(info, 1, "connector id");
  drmModeConnector* conn = drmModeGetConnector(FdArg(info), id);
  if (conn == nullptr) ThrowErrno(env, "get " + Id("connector", id));
  Napi::Object js = Napi::Object::New(env);
  const char* typeName = drmModeGetConnectorTypeName(conn->connector_type);
  js.Set("id", conn->connector_id);
  js.Set("type", conn->connector_type);
  js.Set("typeName", typeName != nullptr ? typeName : "Unknown");
  js.Set("typeId", conn->connector_type_id);
  js.Set("connection", static_cast<uint32_t>(conn->connection));
  js.Set("encoderId", conn->encoder_id);
  js.Set("encoders", Ids(env, conn->encoders, conn->count_encoders));
  js.Set("mmWidth", conn->mmWidth);
  js.Set("mmHeight", conn->mmHeight);
  Napi::Array modes = Napi::Array::New(env, conn->count_modes);
  for (int i = 0; i < conn->count_modes; i++) modes.Set(i, ModeToJs(env, conn->modes[i]));
  js.Set("modes", modes);
  drmModeFreeConnector(conn);
  return js;
}

// getEncoder(fd, id): the CRTC it drives now (0 for none) and the bitmask of CRTCs it can drive.
Napi::Value GetEncoder(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = Uint32Arg(info, 1, "encoder id");
  drmModeEncoder* enc = drmModeGetEncoder(FdArg(info), id);
  if (enc == nullptr) ThrowErrno(env, "get " + Id("encoder", id));
  Napi::Object js = Napi::Object::New(env);
  js.Set("id", enc->encoder_id);
  js.Set("type", enc->encoder_type);
  js.Set("crtcId", enc->crtc_id);
  js.Set("possibleCrtcs", enc->possible_crtcs);
  drmModeFreeEncoder(enc);
  return js;
}

// getCrtc(fd, id): the framebuffer it scans out (0 for none), its position and mode (null when off).
Napi::Value GetCrtc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t id = Uint32Arg(info, 1, "CRTC id");
  drmModeCrtc* crtc = drmModeGetCrtc(FdArg(info), id);
  if (crtc == nullptr) ThrowErrno(env, "get " + Id("CRTC", id));
  Napi::Object js = Napi::Object::New(env);
  js.Set("id", crtc->crtc_id);
  js.Set("fbId", crtc->buffer_id);
  js.Set("x", crtc->x);
  js.Set("y", crtc->y);
  js.Set("mode", crtc->mode_valid ? ModeToJs(env, crtc->mode) : env.Null());
  drmModeFreeCrtc(crtc);
  return js;
}

// setCrtc(fd, crtcId, fbId, x, y, connectorIds, mode): the modeset (mode null and fbId 0 turn it off).
Napi::Value SetCrtc(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info);
  uint32_t crtcId = Uint32Arg(info, 1, "CRTC id");
  uint32_t fbId = Uint32Arg(info, 2, "fb id");
  uint32_t x = Uint32Arg(info, 3, "x");
  uint32_t y = Uint32Arg(info, 4, "y");
  if (info.Length() < 7 || !info[5].IsArray()) throw Napi::TypeError::New(env, "connectorIds must be an array");
  Napi::Array list = info[5].As<Napi::Array>();
  std::vector<uint32_t> connectors;
  for (uint32_t i = 0; i < list.Length(); i++) {
    Napi::Value v = list.Get(i);
    if (!v.IsNumber()) throw Napi::TypeError::New(env, "connectorIds must hold numbers");
    connectors.push_back(v.As<Napi::Number>().Uint32Value());
  }
  drmModeModeInfo mode{};
  bool hasMode = !info[6].IsNull();
  if (hasMode) mode = ModeFromJs(env, info[6]);
  int ret = drmModeSetCrtc(fd, crtcId, fbId, x, y, connectors.data(), static_cast<int>(connectors.size()),
                           hasMode ? &mode : nullptr);
  if (ret != 0) ThrowErrno(env, "set " + Id("CRTC", crtcId) + " to " + Id("fb", fbId), ret);
  return env.Undefined();
}

// createDumb(fd, width, height, bpp): a CPU-drawable buffer; returns its GEM handle, pitch and size.
Napi::Value CreateDumb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint32_t width = Uint32Arg(info, 1, "width"), height = Uint32Arg(info, 2, "height");
  uint32_t bpp = Uint32Arg(info, 3, "bpp");
  uint32_t handle = 0, pitch = 0;
  uint64_t size = 0;
  int ret = drmModeCreateDumbBuffer(FdArg(info), width, height, bpp, 0, &handle, &pitch, &size);
  if (ret != 0) {
    ThrowErrno(env, "create dumb buffer " + std::to_string(width) + "x" + std::to_string(height), ret);
  }
  Napi::Object js = Napi::Object::New(env);
  js.Set("handle", handle);
  js.Set("pitch", pitch);
  js.Set("size", static_cast<double>(size));
  return js;
}

// mapDumb(fd, handle, size): maps the buffer; the ArrayBuffer stays valid until unmapDumb.
Napi::Value MapDumb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = FdArg(info);
  uint32_t handle = Uint32Arg(info, 1, "handle"), size = Uint32Arg(info, 2, "size");
  if (size == 0) throw Napi::TypeError::New(env, "size must be positive");
  uint64_t offset = 0;
  int ret = drmModeMapDumbBuffer(fd, handle, &offset);
  if (ret != 0) ThrowErrno(env, "prepare mapping of dumb buffer " + std::to_string(handle), ret);
  void* addr = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) ThrowErrno(env, "mmap dumb buffer " + std::to_string(handle));
  mappings[addr] = size;
  // No finalizer: the mapping is released explicitly by unmapDumb, in the caller's teardown order.
  return Napi::ArrayBuffer::New(env, addr, size);
}

// unmapDumb(buffer): detaches the ArrayBuffer (its views become empty, never dangling), then munmaps.
Napi::Value UnmapDumb(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsArrayBuffer()) throw Napi::TypeError::New(env, "buffer must be an ArrayBuffer");
  Napi::ArrayBuffer buffer = info[0].As<Napi::ArrayBuffer>();
  auto found = buffer.IsDetached() ? mappings.end() : mappings.find(buffer.Data());
  if (found == mappings.end()) throw Napi::TypeError::New(env, "buffer is not a live mapping from mapDumb");
  buffer.Detach();
  void* addr = found->first;
  size_t size = found->second;
  mappings.erase(found);
  if (munmap(addr, size) != 0) ThrowErrno(env, "munmap dumb buffer");
  return env.Undefined();
}

// destroyDumb(fd, handle): frees the buffer (the kernel keeps it while a framebuffer still uses it).
Napi::Value DestroyDumb(const Napi::CallbackInfo& info) {
  uint32_t handle = Uint32Arg(info, 1, "handle");
  int ret = drmModeDestroyDumbBuffer(FdArg(info), handle);
  if (ret != 0) ThrowErrno(info.Env(), "destroy dumb buffer " + std::to_string(handle), ret);
  return info.Env().Undefined();
}

// addFb(fd, width, height, depth, bpp, pitch, handle): wraps a buffer as a framebuffer; returns its id.
Napi::Value AddFb(const Napi::CallbackInfo& info) {
  uint32_t width = Uint32Arg(info, 1, "width"), height = Uint32Arg(info, 2, "height");
  uint32_t depth = Uint32Arg(info, 3, "depth"), bpp = Uint32Arg(info, 4, "bpp");
  uint32_t pitch = Uint32Arg(info, 5, "pitch"), handle = Uint32Arg(info, 6, "handle");
  if (depth > 255 || bpp > 255) throw Napi::TypeError::New(info.Env(), "depth and bpp must be below 256");
  uint32_t fbId = 0;
  int ret = drmModeAddFB(FdArg(info), width, height, static_cast<uint8_t>(depth), static_cast<uint8_t>(bpp), pitch,
                         handle, &fbId);
  if (ret != 0) ThrowErrno(info.Env(), "add framebuffer for dumb buffer " + std::to_string(handle), ret);
  return Napi::Number::New(info.Env(), fbId);
}

// rmFb(fd, fbId): removes a framebuffer (a CRTC still showing it is turned off by the kernel).
Napi::Value RmFb(const Napi::CallbackInfo& info) {
  uint32_t fbId = Uint32Arg(info, 1, "fb id");
  int ret = drmModeRmFB(FdArg(info), fbId);
  if (ret != 0) ThrowErrno(info.Env(), "remove " + Id("framebuffer", fbId), ret);
  return info.Env().Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("open", Napi::Function::New(env, Open));
  exports.Set("close", Napi::Function::New(env, Close));
  exports.Set("getVersion", Napi::Function::New(env, GetVersion));
  exports.Set("getCap", Napi::Function::New(env, GetCap));
  exports.Set("setMaster", Napi::Function::New(env, SetMaster));
  exports.Set("dropMaster", Napi::Function::New(env, DropMaster));
  exports.Set("getResources", Napi::Function::New(env, GetResources));
  exports.Set("getConnector", Napi::Function::New(env, GetConnector));
  exports.Set("getEncoder", Napi::Function::New(env, GetEncoder));
  exports.Set("getCrtc", Napi::Function::New(env, GetCrtc));
  exports.Set("setCrtc", Napi::Function::New(env, SetCrtc));
  exports.Set("createDumb", Napi::Function::New(env, CreateDumb));
  exports.Set("mapDumb", Napi::Function::New(env, MapDumb));
  exports.Set("unmapDumb", Napi::Function::New(env, UnmapDumb));
  exports.Set("destroyDumb", Napi::Function::New(env, DestroyDumb));
  exports.Set("addFb", Napi::Function::New(env, AddFb));
  exports.Set("rmFb", Napi::Function::New(env, RmFb));
  return exports;
}

}  // namespace

NODE_API_MODULE(drm, Init)

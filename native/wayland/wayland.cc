// A thin Node binding to libwayland-client: one Display object per connection, enough for an
// xdg-shell window drawn from wl_shm buffers (the weston simple-shm client's objects).
//
// Requests are methods that check their arguments, make the libwayland call and flush. Events are
// never dispatched while JavaScript waits: the display fd is watched by a uv_poll handle on Node's
// loop; when it is readable, the queued events are read and dispatched, and the listeners below turn
// each into a plain object. The batch goes to the JavaScript callback in one call, after dispatch.
// A fatal connection error (protocol error, compositor gone) becomes one "error" event and stops
// the watch. Policy (which globals, versions, when to draw) lives in index.ts and the program.
#include <napi.h>
#include <uv.h>
#include <wayland-client.h>

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "xdg-shell-client-protocol.h"

namespace {

// libwayland reports the text of a protocol error ("wl_display@1: error 1: invalid arguments for
// wl_shm@10.create_pool") only through its log handler: keep the last line for the error event.
std::string lastLogLine;

void CaptureLog(const char* format, va_list args) {
  char line[1024];
  vsnprintf(line, sizeof line, format, args);
  lastLogLine = line;
  while (!lastLogLine.empty() && lastLogLine.back() == '\n') lastLogLine.pop_back();
}

std::string ErrnoName(int error) { return uv_err_name(-error); }

uint32_t ArgUint(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsNumber()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a number");
  }
  return info[index].As<Napi::Number>().Uint32Value();
}

std::string ArgString(const Napi::CallbackInfo& info, size_t index, const char* what) {
  if (info.Length() <= index || !info[index].IsString()) {
    throw Napi::TypeError::New(info.Env(), std::string(what) + " must be a string");
  }
  return info[index].As<Napi::String>().Utf8Value();
}

struct Pool {
  wl_shm_pool* pool;
  void* data;
  size_t size;
  Napi::Reference<Napi::ArrayBuffer> memory;
};

class Display : public Napi::ObjectWrap<Display> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Display",
                       {InstanceMethod<&Display::Sync>("sync"),
                        InstanceMethod<&Display::Bind>("bind"),
                        InstanceMethod<&Display::Pong>("pong"),
                        InstanceMethod<&Display::CreateWindow>("createWindow"),
                        InstanceMethod<&Display::AckConfigure>("ackConfigure"),
                        InstanceMethod<&Display::CreatePool>("createPool"),
                        InstanceMethod<&Display::DestroyPool>("destroyPool"),
                        InstanceMethod<&Display::CreateBuffer>("createBuffer"),
                        InstanceMethod<&Display::DestroyBuffer>("destroyBuffer"),
                        InstanceMethod<&Display::Attach>("attach"),
                        InstanceMethod<&Display::Damage>("damage"),
                        InstanceMethod<&Display::Frame>("frame"),
                        InstanceMethod<&Display::Commit>("commit"),
                        InstanceMethod<&Display::DestroyWindow>("destroyWindow"),
                        InstanceMethod<&Display::Disconnect>("disconnect")});
  }

  // new Display(path, onEvents): connects to the compositor's socket at an absolute path.
  Display(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Display>(info) {
    Napi::Env env = info.Env();
    std::string path = ArgString(info, 0, "socket path");
    if (info.Length() < 2 || !info[1].IsFunction()) throw Napi::TypeError::New(env, "onEvents must be a function");
    display_ = wl_display_connect(path.c_str());
    if (display_ == nullptr) {
      std::string code = ErrnoName(errno);
      Napi::Error error = Napi::Error::New(env, "cannot connect to " + path + ": " + code);
      error.Set("code", code);
      error.Set("path", path);
      throw error;
    }
    onEvents_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "WaylandDisplay");
    registry_ = wl_display_get_registry(display_);
    wl_registry_add_listener(registry_, &kRegistryListener, this);

    uv_loop_t* loop = nullptr;
    napi_get_uv_event_loop(env, &loop);
    poll_ = new uv_poll_t;
    poll_->data = this;
    uv_poll_init(loop, poll_, wl_display_get_fd(display_));
    uv_poll_start(poll_, UV_READABLE, OnPoll);
    Ref();  // while connected, the watch refers to this object: keep it from the garbage collector
    Flush();
  }

  // Only reached with the connection still open when Node tears the whole environment down.
  ~Display() override {
    if (display_ != nullptr) wl_display_disconnect(display_);
  }

 private:
  // --- requests -----------------------------------------------------------------------------

  // A wl_display.sync: its "sync" event (with this id) arrives after every earlier request was
  // handled, which makes a roundtrip without blocking.
  Napi::Value Sync(const Napi::CallbackInfo& info) {
    Connected(info.Env(), "sync");
    wl_callback* callback = wl_display_sync(display_);
    uint32_t id = nextId_++;
    syncs_[callback] = id;
    wl_callback_add_listener(callback, &kSyncListener, this);
    Flush();
    return Napi::Number::New(info.Env(), id);
  }

  // bind(name, interface, version) for the three globals this binding knows.
  void Bind(const Napi::CallbackInfo& info) {
    Connected(info.Env(), "bind");
    uint32_t name = ArgUint(info, 0, "global name");
    std::string interface = ArgString(info, 1, "interface");
    uint32_t version = ArgUint(info, 2, "version");
    if (interface == "wl_compositor" && compositor_ == nullptr) {
      compositor_ = static_cast<wl_compositor*>(wl_registry_bind(registry_, name, &wl_compositor_interface, version));
    } else if (interface == "wl_shm" && shm_ == nullptr) {
      shm_ = static_cast<wl_shm*>(wl_registry_bind(registry_, name, &wl_shm_interface, version));
      wl_shm_add_listener(shm_, &kShmListener, this);
    } else if (interface == "xdg_wm_base" && wmBase_ == nullptr) {
      wmBase_ = static_cast<xdg_wm_base*>(wl_registry_bind(registry_, name, &xdg_wm_base_interface, version));
      xdg_wm_base_add_listener(wmBase_, &kWmBaseListener, this);
    } else {
      throw Napi::Error::New(info.Env(), "cannot bind " + interface + ": unknown to this binding or already bound");
    }
    Flush();
  }

  void Pong(const Napi::CallbackInfo& info) {
    Connected(info.Env(), "pong");
    xdg_wm_base_pong(Need(info.Env(), wmBase_, "xdg_wm_base"), ArgUint(info, 0, "serial"));
    Flush();
  }

  // createWindow(title, appId): wl_surface + xdg_surface + xdg_toplevel, then the initial commit
  // without a buffer, which asks the compositor for the first configure.
  void CreateWindow(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connected(env, "createWindow");
    std::string title = ArgString(info, 0, "title");
    std::string appId = ArgString(info, 1, "app id");
    if (surface_ != nullptr) throw Napi::Error::New(env, "createWindow: this connection already has a window");
    surface_ = wl_compositor_create_surface(Need(env, compositor_, "wl_compositor"));
    xdgSurface_ = xdg_wm_base_get_xdg_surface(Need(env, wmBase_, "xdg_wm_base"), surface_);
    xdg_surface_add_listener(xdgSurface_, &kXdgSurfaceListener, this);
    toplevel_ = xdg_surface_get_toplevel(xdgSurface_);
    xdg_toplevel_add_listener(toplevel_, &kToplevelListener, this);
    xdg_toplevel_set_title(toplevel_, title.c_str());
    xdg_toplevel_set_app_id(toplevel_, appId.c_str());
    wl_surface_commit(surface_);
    Flush();
  }

  void AckConfigure(const Napi::CallbackInfo& info) {
    Connected(info.Env(), "ackConfigure");
    xdg_surface_ack_configure(Need(info.Env(), xdgSurface_, "window"), ArgUint(info, 0, "serial"));
    Flush();
  }

  // createPool(size) -> {id, memory}: a memfd shared with the compositor through wl_shm. `memory`
  // is the mapping itself (drawn into directly); destroyPool detaches it before unmapping.
  Napi::Value CreatePool(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connected(env, "createPool");
    uint32_t size = ArgUint(info, 0, "pool size");
    wl_shm* shm = Need(env, shm_, "wl_shm");
    int fd = memfd_create("pv-wayland-shm", MFD_CLOEXEC);
    if (fd < 0) throw Napi::Error::New(env, "cannot create shared memory: " + ErrnoName(errno));
    if (ftruncate(fd, size) < 0) {
      int error = errno;
      close(fd);
      throw Napi::Error::New(env, "cannot size shared memory to " + std::to_string(size) + " bytes: " + ErrnoName(error));
    }
    void* data = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) {
      int error = errno;
      close(fd);
      throw Napi::Error::New(env, "cannot map shared memory: " + ErrnoName(error));
    }
    // libwayland duplicates the fd into the request: ours can be closed right away.
    wl_shm_pool* pool = wl_shm_create_pool(shm, fd, size);
    close(fd);
    Napi::ArrayBuffer memory = Napi::ArrayBuffer::New(env, data, size);
    uint32_t id = nextId_++;
    pools_[id] = Pool{pool, data, size, Napi::Persistent(memory)};
    Flush();
    Napi::Object result = Napi::Object::New(env);
    result.Set("id", id);
    result.Set("memory", memory);
    return result;
  }

  void DestroyPool(const Napi::CallbackInfo& info) {
    auto it = pools_.find(ArgUint(info, 0, "pool id"));
    if (it == pools_.end()) throw Napi::Error::New(info.Env(), "destroyPool: no such pool");
    ReleasePool(it->second, true);
    pools_.erase(it);
    Flush();
  }

  // createBuffer(poolId, offset, width, height, stride, format) -> buffer id.
  Napi::Value CreateBuffer(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connected(env, "createBuffer");
    auto pool = pools_.find(ArgUint(info, 0, "pool id"));
    if (pool == pools_.end()) throw Napi::Error::New(env, "createBuffer: no such pool");
    wl_buffer* buffer =
        wl_shm_pool_create_buffer(pool->second.pool, ArgUint(info, 1, "offset"), ArgUint(info, 2, "width"),
                                  ArgUint(info, 3, "height"), ArgUint(info, 4, "stride"), ArgUint(info, 5, "format"));
    uint32_t id = nextId_++;
    buffers_[buffer] = id;
    wl_buffer_add_listener(buffer, &kBufferListener, this);
    Flush();
    return Napi::Number::New(env, id);
  }

  void DestroyBuffer(const Napi::CallbackInfo& info) {
    wl_buffer* buffer = FindBuffer(info.Env(), ArgUint(info, 0, "buffer id"));
    buffers_.erase(buffer);
    wl_buffer_destroy(buffer);
    Flush();
  }

  // attach(bufferId | null): the buffer shown from the next commit on.
  void Attach(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connected(env, "attach");
    wl_buffer* buffer = info.Length() > 0 && info[0].IsNull() ? nullptr : FindBuffer(env, ArgUint(info, 0, "buffer id"));
    wl_surface_attach(Need(env, surface_, "window"), buffer, 0, 0);
  }

  void Damage(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connected(env, "damage");
    wl_surface* surface = Need(env, surface_, "window");
    int32_t x = ArgUint(info, 0, "x"), y = ArgUint(info, 1, "y");
    int32_t width = ArgUint(info, 2, "width"), height = ArgUint(info, 3, "height");
    if (wl_proxy_get_version(reinterpret_cast<wl_proxy*>(surface)) >= WL_SURFACE_DAMAGE_BUFFER_SINCE_VERSION) {
      wl_surface_damage_buffer(surface, x, y, width, height);
    } else {
      wl_surface_damage(surface, x, y, width, height);
    }
  }

  // frame(): asks for one "frame" event, sent when it is a good time to draw the next frame.
  void Frame(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Connected(env, "frame");
    if (frame_ != nullptr) throw Napi::Error::New(env, "frame: a frame callback is already pending");
    frame_ = wl_surface_frame(Need(env, surface_, "window"));
    wl_callback_add_listener(frame_, &kFrameListener, this);
  }

  void Commit(const Napi::CallbackInfo& info) {
    Connected(info.Env(), "commit");
    wl_surface_commit(Need(info.Env(), surface_, "window"));
    Flush();
  }

  void DestroyWindow(const Napi::CallbackInfo&) {
    DestroyWindowObjects();
    if (display_ != nullptr) Flush();
  }

  void Disconnect(const Napi::CallbackInfo&) {
    for (auto& entry : pools_) entry.second.memory.Value().Detach();
    Teardown();
  }

  // --- helpers ------------------------------------------------------------------------------

  void Connected(Napi::Env env, const char* what) {
    if (display_ == nullptr) throw Napi::Error::New(env, std::string(what) + ": not connected");
  }

  template <typename T>
  T* Need(Napi::Env env, T* object, const char* what) {
    if (object == nullptr) throw Napi::Error::New(env, std::string(what) + " is not available (not bound or not created)");
    return object;
  }

  wl_buffer* FindBuffer(Napi::Env env, uint32_t id) {
    for (auto& entry : buffers_) {
      if (entry.second == id) return entry.first;
    }
    throw Napi::Error::New(env, "no buffer " + std::to_string(id));
  }

  void ReleasePool(Pool& pool, bool detach) {
    if (detach) pool.memory.Value().Detach();
    pool.memory.Reset();
    wl_shm_pool_destroy(pool.pool);
    munmap(pool.data, pool.size);
  }

  // Sends what is queued. A full socket (EAGAIN) is retried when the fd becomes writable. Another
  // failure leaves the connection dead: the watch sees the socket closed and reports it from there
  // (events are only built inside the watch, where their handles stay valid until delivered).
  void Flush() {
    if (display_ == nullptr || failed_) return;
    if (wl_display_flush(display_) >= 0) {
      if (waitingToWrite_) uv_poll_start(poll_, UV_READABLE, OnPoll);
      waitingToWrite_ = false;
    } else if (errno == EAGAIN) {
      waitingToWrite_ = true;
      uv_poll_start(poll_, UV_READABLE | UV_WRITABLE, OnPoll);
    } else if (inWatch_) {
      CheckError();
    }
  }

  static void OnPoll(uv_poll_t* handle, int status, int events) {
    Display* self = static_cast<Display*>(handle->data);
    Napi::Env env = self->Env();
    Napi::HandleScope scope(env);
    self->inWatch_ = true;
    if (status == 0 && (events & UV_WRITABLE)) self->Flush();
    if (status < 0 || (events & (UV_READABLE | UV_DISCONNECT))) self->ReadAndDispatch();
    self->inWatch_ = false;
    self->Deliver();
  }

  void ReadAndDispatch() {
    if (display_ == nullptr || failed_) return;
    lastLogLine.clear();
    // The prepare/read/dispatch dance is libwayland's non-blocking read: events already queued
    // are dispatched first, then exactly one read of the socket (which poll said is readable).
    while (wl_display_prepare_read(display_) != 0) {
      if (wl_display_dispatch_pending(display_) < 0) return CheckError();
    }
    if (wl_display_read_events(display_) < 0 && errno != EAGAIN) return CheckError();
    if (wl_display_dispatch_pending(display_) < 0) return CheckError();
    Flush();  // listeners may have queued requests
  }

  // A fatal error of the connection: one "error" event naming what failed, and the watch stops.
  void CheckError() {
    int error = wl_display_get_error(display_);
    if (error == 0 || failed_) return;
    failed_ = true;
    uv_poll_stop(poll_);
    Napi::Object event = NewEvent("error");
    event.Set("errno", ErrnoName(error));
    // A wl_display error (invalid method, invalid object, no memory) comes as EINVAL, ENOMEM or
    // EFAULT and an object-level error as EPROTO; the compositor's text is in the log line.
    if (!lastLogLine.empty()) event.Set("message", lastLogLine);
    if (error == EPROTO) {
      const wl_interface* interface = nullptr;
      uint32_t object = 0;
      uint32_t code = wl_display_get_protocol_error(display_, &interface, &object);
      event.Set("interface", interface != nullptr ? interface->name : "unknown");
      event.Set("object", object);
      event.Set("code", code);
    }
  }

  Napi::Object NewEvent(const char* type) {
    Napi::Object event = Napi::Object::New(Env());
    event.Set("type", type);
    events_.push_back(event);
    return event;
  }

  // Hands the batch of events to JavaScript. MakeCallback runs the promise jobs they trigger; an
  // exception thrown by the callback becomes the process's uncaught exception, as in any callback.
  void Deliver() {
    if (events_.empty()) return;
    Napi::Env env = Env();
    Napi::Array batch = Napi::Array::New(env, events_.size());
    for (size_t i = 0; i < events_.size(); i++) batch.Set(i, events_[i]);
    events_.clear();
    try {
      onEvents_.MakeCallback(Value(), {batch}, *context_);
    } catch (const Napi::Error& error) {
      napi_fatal_exception(env, error.Value());
    }
  }

  void DestroyWindowObjects() {
    if (frame_ != nullptr) wl_callback_destroy(frame_);
    frame_ = nullptr;
    if (toplevel_ != nullptr) xdg_toplevel_destroy(toplevel_);
    toplevel_ = nullptr;
    if (xdgSurface_ != nullptr) xdg_surface_destroy(xdgSurface_);
    xdgSurface_ = nullptr;
    if (surface_ != nullptr) wl_surface_destroy(surface_);
    surface_ = nullptr;
  }

  // Releases everything in reverse order of creation; safe to call twice.
  void Teardown() {
    if (display_ == nullptr) return;
    for (auto& entry : syncs_) wl_callback_destroy(entry.first);
    syncs_.clear();
    for (auto& entry : buffers_) wl_buffer_destroy(entry.first);
    buffers_.clear();
    for (auto& entry : pools_) ReleasePool(entry.second, false);
    pools_.clear();
    DestroyWindowObjects();
    if (wmBase_ != nullptr) xdg_wm_base_destroy(wmBase_);
    if (shm_ != nullptr) wl_shm_destroy(shm_);
    if (compositor_ != nullptr) wl_compositor_destroy(compositor_);
    wl_registry_destroy(registry_);
    wmBase_ = nullptr;
    shm_ = nullptr;
    compositor_ = nullptr;
    if (!failed_) wl_display_flush(display_);
    uv_poll_stop(poll_);
    uv_close(reinterpret_cast<uv_handle_t*>(poll_), [](uv_handle_t* handle) { delete reinterpret_cast<uv_poll_t*>(handle); });
    poll_ = nullptr;
    wl_display_disconnect(display_);
    display_ = nullptr;
    Unref();
  }

  // --- listeners: each event becomes a plain object for the batch ------------------------------

  static void OnGlobal(void* data, wl_registry*, uint32_t name, const char* interface, uint32_t version) {
    Napi::Object event = static_cast<Display*>(data)->NewEvent("global");
    event.Set("name", name);
    event.Set("interface", interface);
    event.Set("version", version);
  }
  static void OnGlobalRemove(void* data, wl_registry*, uint32_t name) {
    static_cast<Display*>(data)->NewEvent("global_remove").Set("name", name);
  }
  static void OnSyncDone(void* data, wl_callback* callback, uint32_t) {
    Display* self = static_cast<Display*>(data);
    auto it = self->syncs_.find(callback);
    if (it != self->syncs_.end()) self->NewEvent("sync").Set("id", it->second);
    self->syncs_.erase(callback);
    wl_callback_destroy(callback);
  }
  static void OnShmFormat(void* data, wl_shm*, uint32_t format) {
    static_cast<Display*>(data)->NewEvent("format").Set("format", format);
  }
  static void OnPing(void* data, xdg_wm_base*, uint32_t serial) {
    static_cast<Display*>(data)->NewEvent("ping").Set("serial", serial);
  }
  // xdg_toplevel.configure only proposes a size; the xdg_surface.configure that follows closes the
  // sequence with the serial to acknowledge. One "configure" event carries both.
  static void OnToplevelConfigure(void* data, xdg_toplevel*, int32_t width, int32_t height, wl_array*) {
    Display* self = static_cast<Display*>(data);
    self->pendingWidth_ = width;
    self->pendingHeight_ = height;
  }
  static void OnSurfaceConfigure(void* data, xdg_surface*, uint32_t serial) {
    Display* self = static_cast<Display*>(data);
    Napi::Object event = self->NewEvent("configure");
    event.Set("serial", serial);
    event.Set("width", self->pendingWidth_);
    event.Set("height", self->pendingHeight_);
  }
  static void OnClose(void* data, xdg_toplevel*) { static_cast<Display*>(data)->NewEvent("close"); }
  static void OnBounds(void*, xdg_toplevel*, int32_t, int32_t) {}
  static void OnCapabilities(void*, xdg_toplevel*, wl_array*) {}
  static void OnFrameDone(void* data, wl_callback* callback, uint32_t time) {
    Display* self = static_cast<Display*>(data);
    wl_callback_destroy(callback);
    self->frame_ = nullptr;
    self->NewEvent("frame").Set("time", time);
  }
  static void OnRelease(void* data, wl_buffer* buffer) {
    Display* self = static_cast<Display*>(data);
    auto it = self->buffers_.find(buffer);
    if (it != self->buffers_.end()) self->NewEvent("release").Set("buffer", it->second);
  }

  static constexpr wl_registry_listener kRegistryListener = {OnGlobal, OnGlobalRemove};
  static constexpr wl_callback_listener kSyncListener = {OnSyncDone};
  static constexpr wl_callback_listener kFrameListener = {OnFrameDone};
  static constexpr wl_shm_listener kShmListener = {OnShmFormat};
  static constexpr xdg_wm_base_listener kWmBaseListener = {OnPing};
  static constexpr xdg_surface_listener kXdgSurfaceListener = {OnSurfaceConfigure};
  static constexpr xdg_toplevel_listener kToplevelListener = {OnToplevelConfigure, OnClose, OnBounds, OnCapabilities};
  static constexpr wl_buffer_listener kBufferListener = {OnRelease};

  wl_display* display_ = nullptr;
  wl_registry* registry_ = nullptr;
  wl_compositor* compositor_ = nullptr;
  wl_shm* shm_ = nullptr;
  xdg_wm_base* wmBase_ = nullptr;
  wl_surface* surface_ = nullptr;
  xdg_surface* xdgSurface_ = nullptr;
  xdg_toplevel* toplevel_ = nullptr;
  wl_callback* frame_ = nullptr;
  int32_t pendingWidth_ = 0;
  int32_t pendingHeight_ = 0;
  std::map<wl_callback*, uint32_t> syncs_;
  std::map<wl_buffer*, uint32_t> buffers_;
  std::map<uint32_t, Pool> pools_;
  uint32_t nextId_ = 1;
  uv_poll_t* poll_ = nullptr;
  bool waitingToWrite_ = false;
  bool failed_ = false;
  bool inWatch_ = false;
  std::vector<Napi::Object> events_;
  Napi::FunctionReference onEvents_;
  std::unique_ptr<Napi::AsyncContext> context_;
};

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  wl_log_set_handler_client(CaptureLog);
  exports.Set("Display", Display::Define(env));
  return exports;
}

}  // namespace

NODE_API_MODULE(wayland, Init)

// The part of Tauri's global API (`app.withGlobalTauri`) the windows use. Everything they send
// and receive through it is typed by the generated contract, in `ipc.js`.
interface Window {
  __TAURI__: {
    core: { invoke(command: string, args?: object): Promise<unknown> };
    event: { listen(event: string, handler: (e: { payload: unknown }) => void): Promise<() => void> };
  };
}

// `import PAGE from "./page.html" with { type: "text" }`: esbuild's text loader makes the file's
// content a string in the bundle.
declare module "*.html" {
  const text: string;
  export default text;
}

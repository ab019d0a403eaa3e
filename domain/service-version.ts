/** The service's version, as in package.json (a unit test keeps them equal): the API document and the status answer show it. */
export const SERVICE_VERSION = '0.1.0';

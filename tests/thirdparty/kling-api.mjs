// Drives the third-party npm package `kling-api` (pinned in package.json) against a gateway.
//
//   node kling-api.mjs <operation> '<params as JSON>'
//
// Environment: KLING_ACCESS_KEY, KLING_SECRET_KEY (the SDK signs its own HS256 JWTs with them),
// KLING_BASE_URL (https://..., the SDK refuses plain http), NODE_EXTRA_CA_CERTS (the gateway's
// certificate). Prints one JSON line: {"created": <create envelope>, "final": <last poll envelope>}
// for a task, {"response": ...} for the account calls, {"error": {...}} when the SDK throws.
// Only the SDK's public API is used; nothing here knows the gateway.
import { KlingAPI, KlingAPIError } from 'kling-api';

const api = new KlingAPI({
  accessKey: process.env.KLING_ACCESS_KEY,
  secretKey: process.env.KLING_SECRET_KEY,
  baseUrl: process.env.KLING_BASE_URL,
});
const poll = { interval: 250, timeout: 180000, showSpinner: false };

// operation -> [create method, query method, wait method]
const TASKS = {
  text2video: ['textToVideo', 'queryTextToVideoTask', 'waitForVideoResult'],
  image2video: ['imageToVideo', 'queryImageToVideoTask', 'waitForVideoResult'],
  extend: ['extendVideo', 'queryExtendVideoTask', 'waitForVideoResult'],
  'multi-image2video': ['multiImageToVideo', 'queryMultiImageToVideoTask', 'waitForVideoResult'],
  'omni-video': ['omniVideo', 'queryOmniVideoTask', 'waitForVideoResult'],
  avatar: ['createAvatar', 'queryAvatarTask', 'waitForVideoResult'],
  generations: ['generateImage', 'queryImageGenTask', 'waitForImageResult'],
  expand: ['expandImage', 'queryImageExpandTask', 'waitForImageResult'],
  'omni-image': ['omniImage', 'queryOmniImageTask', 'waitForImageResult'],
  'multi-image2image': ['multiImageToImage', 'queryMultiImageToImageTask', 'waitForImageResult'],
};

async function run(operation, params) {
  if (operation in TASKS) {
    const [create, query, wait] = TASKS[operation];
    const created = await api[create](params);
    const final = await api[wait](created.data.task_id, api[query].bind(api), poll);
    return { created, final };
  }
  if (operation === 'account') {
    return { response: await api.getAccountInfo(params.start_time, params.end_time, params.resource_pack_name) };
  }
  if (operation === 'health') {
    return { response: await api.healthCheck() };
  }
  if (operation === 'query-text2video') {
    return { response: await api.queryTextToVideoTask(params.task_id) };
  }
  throw new Error(`unknown operation ${operation}`);
}

const [operation, raw] = process.argv.slice(2);
try {
  console.log(JSON.stringify(await run(operation, JSON.parse(raw ?? '{}'))));
} catch (error) {
  const shown = { name: error.name, message: error.message };
  if (error instanceof KlingAPIError) {
    Object.assign(shown, { code: error.code, httpStatus: error.httpStatus, requestId: error.requestId });
  }
  console.log(JSON.stringify({ error: shown }));
  process.exitCode = 1;
}

// What several pages share: the catalogue and policy (fetched once), and the signed-in
// person's profile, whose credit balance the header shows.

import { api } from "./api.js";
import { rememberModels } from "./format.js";
import { session } from "./session.js";

let catalogue = null;
let policy = null;
let me = null;
let meRequest = null;
const listeners = new Set();

export function getCatalogue() {
  if (!catalogue) {
    catalogue = api("GET", "/plans", undefined, { auth: false }).then((plans) => {
      rememberModels(plans.models);
      return plans;
    }, (error) => {
      catalogue = null;
      throw error;
    });
  }
  return catalogue;
}

export function getPolicy() {
  if (!policy) {
    policy = api("GET", "/policy", undefined, { auth: false }).catch((error) => {
      policy = null;
      throw error;
    });
  }
  return policy;
}

export function currentProfile() {
  return me;
}

/** GET /me (shared by concurrent callers); pass fresh=true after something changed it. */
export function loadProfile(fresh = false) {
  if (!session.signedIn) return Promise.resolve(null);
  if (me && !fresh) return Promise.resolve(me);
  if (!meRequest) {
    meRequest = api("GET", "/me")
      .then((profile) => {
        setProfile(profile);
        return profile;
      })
      .finally(() => {
        meRequest = null;
      });
  }
  return meRequest;
}

export function setProfile(profile) {
  me = profile;
  for (const listener of listeners) listener(me);
}

export function onProfile(listener) {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

session.onChange((signedIn) => {
  if (!signedIn) setProfile(null);
});

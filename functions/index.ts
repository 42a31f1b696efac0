/**
 * The Functions app's entry point (package.json `main`): the host loads it and it registers the
 * functions. Loading connects to nothing; clients open on the first invocation.
 */
import azureFunctions from "@azure/functions";
import { readSettings } from "../core/config.js";
import { createFunctions, registerFunctions } from "./app.js";

const settings = readSettings(process.env);
registerFunctions(azureFunctions.app, createFunctions(settings), settings);

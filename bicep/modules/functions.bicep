// The Functions app on Flex Consumption (Node 22): publish and negotiate over HTTP, and the Service Bus
// fan-out on its own subscription. The host reaches storage and Service Bus with the app's identity.

import { tagsType, heraldSettingsType, identityType } from 'types.bicep'

@description('Location of the resources.')
param location string

@description('Tags put on every resource.')
param tags tagsType

@description('Name of the Flex Consumption plan.')
param planName string

@description('Name of the Function App.')
param appName string

@description('The Functions app\'s user-assigned identity.')
param identity identityType

@description('Name of the storage account the host uses (AzureWebJobsStorage).')
param storageAccountName string

@description('URL of the blob container the app is deployed from.')
param deploymentContainerUrl string

@description('Application Insights connection string (no secret: local auth is off).')
param applicationInsightsConnectionString string

@description('Most instances the app scales out to.')
@minValue(40)
@maxValue(1000)
param maximumInstanceCount int

@description('Memory of each instance.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int

@description('Subscription the fan-out consumes (HERALD_FANOUT_SUBSCRIPTION).')
param subscriptionName string

@description('Public URL of the gateway: negotiate answers point SSE and long-poll there (HERALD_PUBLIC_URL).')
param gatewayUrl string

@description('Settings shared with the gateway.')
param settings heraldSettingsType

resource plan 'Microsoft.Web/serverfarms@2025-03-01' = {
  name: planName
  location: location
  tags: tags
  kind: 'functionapp'
  sku: {
    name: 'FC1'
    tier: 'FlexConsumption'
  }
  properties: {
    reserved: true
  }
}

resource app 'Microsoft.Web/sites@2025-03-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'functions' })
  kind: 'functionapp,linux'
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    publicNetworkAccess: 'Enabled'
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: deploymentContainerUrl
          authentication: {
            type: 'UserAssignedIdentity'
            userAssignedIdentityResourceId: identity.id
          }
        }
      }
      scaleAndConcurrency: {
        maximumInstanceCount: maximumInstanceCount
        instanceMemoryMB: instanceMemoryMB
      }
      runtime: {
        name: 'node'
        version: '22'
      }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      scmMinTlsVersion: '1.2'
      ftpsState: 'Disabled'
      http20Enabled: true
      // Flex Consumption sets the runtime in functionAppConfig and rejects FUNCTIONS_WORKER_RUNTIME and
      // FUNCTIONS_EXTENSION_VERSION here.
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storageAccountName }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'AzureWebJobsStorage__clientId', value: identity.clientId }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: applicationInsightsConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'ClientId=${identity.clientId};Authorization=AAD' }
        { name: 'AZURE_CLIENT_ID', value: identity.clientId }
        { name: 'HERALD_PUBLIC_URL', value: gatewayUrl }
        // The Service Bus trigger's connection "HERALD_SERVICEBUS": the namespace, and which identity.
        { name: 'HERALD_SERVICEBUS__fullyQualifiedNamespace', value: settings.serviceBusNamespace }
        { name: 'HERALD_SERVICEBUS__credential', value: 'managedidentity' }
        { name: 'HERALD_SERVICEBUS__clientId', value: identity.clientId }
        { name: 'HERALD_TOPIC', value: settings.topic }
        { name: 'HERALD_FANOUT_SUBSCRIPTION', value: subscriptionName }
        { name: 'HERALD_WEBPUBSUB__serviceUri', value: settings.webPubSubEndpoint }
        { name: 'HERALD_WEBPUBSUB_HUB', value: settings.webPubSubHub }
        { name: 'HERALD_STORE', value: 'table' }
        { name: 'HERALD_STORAGE__tableServiceUri', value: settings.tableServiceUri }
        { name: 'HERALD_STREAMS_TABLE', value: settings.streamsTable }
        { name: 'HERALD_RETENTION_SECONDS', value: string(settings.retentionSeconds) }
        { name: 'HERALD_RETENTION_COUNT', value: string(settings.retentionCount) }
        { name: 'HERALD_JWT_JWKS_URL', value: settings.jwtJwksUrl }
        { name: 'HERALD_JWT_ISSUER', value: settings.jwtIssuer }
        { name: 'HERALD_JWT_AUDIENCE', value: settings.jwtAudience }
        { name: 'HERALD_ALLOWED_ORIGINS', value: settings.allowedOrigins }
        { name: 'HERALD_LOG_LEVEL', value: settings.logLevel }
      ]
    }
  }
}

// No publishing passwords: deployments authenticate with Entra ID.
resource ftpCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: app
  name: 'ftp'
  properties: {
    allow: false
  }
}

resource scmCredentials 'Microsoft.Web/sites/basicPublishingCredentialsPolicies@2025-03-01' = {
  parent: app
  name: 'scm'
  properties: {
    allow: false
  }
}

@description('Name of the Function App.')
output appName string = app.name

@description('Default URL of the Function App.')
output url string = 'https://${app.properties.defaultHostName}'

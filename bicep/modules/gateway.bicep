// The gateway on Azure Container Apps: an environment that sends its logs to Log Analytics through a
// diagnostic setting (no workspace key), and the app with public ingress, health probes, at least one
// replica always on, and scaling on the subscription's backlog and on concurrent requests.

import { tagsType, heraldSettingsType, identityType } from 'types.bicep'

@description('Location of the resources.')
param location string

@description('Tags put on every resource.')
param tags tagsType

@description('Name of the Container Apps environment.')
param environmentName string

@description('Name of the Container App.')
param appName string

@description('Resource ID of the Log Analytics workspace that receives the logs.')
param logAnalyticsId string

@description('The gateway\'s user-assigned identity.')
param identity identityType

@description('Login server of the registry the image is pulled from.')
param registryServer string

@description('Gateway image; empty until the first `azd deploy` (a placeholder runs until then).')
param image string

@description('Port the gateway listens on inside the container (HERALD_PORT).')
@minValue(1)
@maxValue(65535)
param port int

@description('Replicas always running (at least 1: the gateway holds SSE and long-poll connections).')
@minValue(1)
@maxValue(1000)
param minReplicas int

@description('Most replicas the scale rules may start.')
@minValue(1)
@maxValue(1000)
param maxReplicas int

@description('vCPUs per replica, e.g. 0.5.')
param cpu string

@description('Memory per replica, e.g. 1Gi (2 GiB per vCPU at most).')
param memory string

@description('Concurrent requests per replica before another starts (SSE and long-poll requests count).')
@minValue(1)
param concurrentRequests int

@description('Messages waiting in the subscription per replica before another starts.')
@minValue(1)
param backlogMessages int

@description('Name of the Service Bus namespace (the backlog scale rule reads it).')
param serviceBusNamespaceName string

@description('Subscription the gateway consumes (HERALD_SUBSCRIPTION).')
param subscriptionName string

@description('Settings shared with the Functions app.')
param settings heraldSettingsType

// Until azd pushes the real image, a public sample keeps the first provisioning from failing; it
// listens on port 80 and has no health endpoints, so ingress and probes follow it.
var placeholder = empty(image)
var placeholderImage = 'mcr.microsoft.com/k8se/quickstart:latest'

var probes = [
  {
    type: 'Startup'
    httpGet: {
      path: '/healthz'
      port: port
    }
    periodSeconds: 2
    failureThreshold: 30
  }
  {
    type: 'Liveness'
    httpGet: {
      path: '/healthz'
      port: port
    }
    periodSeconds: 10
    failureThreshold: 3
  }
  {
    type: 'Readiness'
    httpGet: {
      path: '/readyz'
      port: port
    }
    periodSeconds: 5
    failureThreshold: 3
  }
]

resource environment 'Microsoft.App/managedEnvironments@2026-07-01' = {
  name: environmentName
  location: location
  tags: tags
  properties: {
    appLogsConfiguration: {
      destination: 'azure-monitor'
    }
    workloadProfiles: [
      {
        name: 'Consumption'
        workloadProfileType: 'Consumption'
      }
    ]
  }
}

// The newest API version of diagnostic settings is a preview; the one GA version (2016-09-01) is the
// legacy shape that cannot target a workspace.
#disable-next-line use-recent-api-versions
resource environmentLogs 'Microsoft.Insights/diagnosticSettings@2021-05-01-preview' = {
  scope: environment
  name: 'to-log-analytics'
  properties: {
    workspaceId: logAnalyticsId
    logs: [
      {
        categoryGroup: 'allLogs'
        enabled: true
      }
    ]
    metrics: [
      {
        category: 'AllMetrics'
        enabled: true
      }
    ]
  }
}

var publicUrl = 'https://${appName}.${environment.properties.defaultDomain}'

resource app 'Microsoft.App/containerApps@2026-07-01' = {
  name: appName
  location: location
  tags: union(tags, { 'azd-service-name': 'gateway' })
  identity: {
    type: 'UserAssigned'
    userAssignedIdentities: {
      '${identity.id}': {}
    }
  }
  properties: {
    environmentId: environment.id
    workloadProfileName: 'Consumption'
    configuration: {
      activeRevisionsMode: 'Single'
      ingress: {
        external: true
        targetPort: placeholder ? 80 : port
        // auto: HTTP/1.1 (WebSocket upgrades included) and HTTP/2.
        transport: 'auto'
        allowInsecure: false
        traffic: [
          {
            latestRevision: true
            weight: 100
          }
        ]
      }
      registries: [
        {
          server: registryServer
          identity: identity.id
        }
      ]
    }
    template: {
      // Time for open SSE and long-poll requests to finish when a replica stops.
      terminationGracePeriodSeconds: 30
      containers: [
        {
          name: 'gateway'
          image: placeholder ? placeholderImage : image
          resources: {
            cpu: json(cpu)
            memory: memory
          }
          env: [
            { name: 'AZURE_CLIENT_ID', value: identity.clientId }
            { name: 'HERALD_HOST', value: '0.0.0.0' }
            { name: 'HERALD_PORT', value: string(port) }
            { name: 'HERALD_PUBLIC_URL', value: publicUrl }
            { name: 'HERALD_SERVICEBUS__fullyQualifiedNamespace', value: settings.serviceBusNamespace }
            { name: 'HERALD_TOPIC', value: settings.topic }
            { name: 'HERALD_SUBSCRIPTION', value: subscriptionName }
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
          probes: placeholder ? [] : probes
        }
      ]
      scale: {
        minReplicas: minReplicas
        maxReplicas: maxReplicas
        rules: [
          {
            name: 'servicebus-backlog'
            custom: {
              type: 'azure-servicebus'
              identity: identity.id
              metadata: {
                namespace: serviceBusNamespaceName
                topicName: settings.topic
                subscriptionName: subscriptionName
                messageCount: string(backlogMessages)
              }
            }
          }
          {
            name: 'concurrent-requests'
            http: {
              metadata: {
                concurrentRequests: string(concurrentRequests)
              }
            }
          }
        ]
      }
    }
  }
}

@description('Name of the Container App.')
output appName string = app.name

@description('Public URL of the gateway (HERALD_PUBLIC_URL).')
output url string = publicUrl

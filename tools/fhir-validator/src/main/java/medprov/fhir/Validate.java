package medprov.fhir;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.ResultSeverityEnum;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.PrePopulatedValidationSupport;
import org.hl7.fhir.instance.model.api.IBaseResource;
import org.hl7.fhir.utilities.npm.NpmPackage;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * Validates FHIR R4 resources (JSON) with HAPI FHIR's FhirInstanceValidator, many in one JVM start.
 *
 * Usage: java -jar fhir-validator.jar [--ig package.tgz]... [FILE|-]...
 *   FILE  a JSON file holding one resource (a Bundle is one resource) or a JSON array of them;
 *         "-" (or no FILE at all) reads the same from standard input.
 *   --ig  an NPM package (.tgz) of an implementation guide whose profiles the resources may claim
 *         (meta.profile), e.g. KR Core. Without one, resources are validated against base R4.
 *
 * Prints one JSON document on stdout:
 *   {"validator": "...", "fhirVersion": "4.0.1", "igs": [...],
 *    "results": [{"source": "file#index", "resourceType": "...", "id": "...",
 *                 "errors": [{"severity","location","message","messageId"}], "warnings": [...],
 *                 "information": N}],
 *    "errorCount": N, "warningCount": N}
 * Exit status: 0 when no resource has an error, 1 when one has, 2 when the input cannot be read.
 */
public final class Validate {
  private static final ObjectMapper JSON = new ObjectMapper();

  private record Input(String source, JsonNode resource) {}

  public static void main(String[] args) throws Exception {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    List<String> igs = new ArrayList<>();
    List<String> files = new ArrayList<>();
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--ig") && i + 1 < args.length) {
        igs.add(args[++i]);
      } else if (args[i].equals("--help") || args[i].equals("-h")) {
        System.err.println("usage: fhir-validator [--ig package.tgz]... [FILE|-]...");
        System.exit(0);
      } else {
        files.add(args[i]);
      }
    }
    if (files.isEmpty()) files.add("-");

    List<Input> inputs = new ArrayList<>();
    for (String file : files) {
      JsonNode node;
      try {
        byte[] bytes = file.equals("-") ? System.in.readAllBytes() : Files.readAllBytes(Path.of(file));
        node = JSON.readTree(bytes);
      } catch (IOException e) {
        System.err.println("fhir-validator: cannot read " + (file.equals("-") ? "standard input" : file) + ": " + e.getMessage());
        System.exit(2);
        return;
      }
      String name = file.equals("-") ? "stdin" : file;
      if (node != null && node.isArray()) {
        for (int i = 0; i < node.size(); i++) inputs.add(new Input(name + "#" + i, node.get(i)));
      } else if (node != null && node.isObject()) {
        inputs.add(new Input(name + "#0", node));
      } else {
        System.err.println("fhir-validator: " + name + " holds neither a JSON object nor an array of them");
        System.exit(2);
        return;
      }
    }

    FhirContext ctx = FhirContext.forR4();
    ValidationSupportChain chain = new ValidationSupportChain(
        new DefaultProfileValidationSupport(ctx),
        new CommonCodeSystemsTerminologyService(ctx),
        new InMemoryTerminologyServerValidationSupport(ctx),
        new SnapshotGeneratingValidationSupport(ctx));
    ArrayNode igNames = JSON.createArrayNode();
    for (String ig : igs) {
      // The package's conformance resources (profiles, extensions, value sets, code systems).
      PrePopulatedValidationSupport npm = new PrePopulatedValidationSupport(ctx);
      try (InputStream in = Files.newInputStream(Path.of(ig))) {
        NpmPackage pkg = NpmPackage.fromPackage(in);
        NpmPackage.NpmPackageFolder folder = pkg.getFolders().get("package");
        for (String name : folder == null ? List.<String>of() : folder.listFiles()) {
          if (!name.endsWith(".json") || name.equals("package.json") || name.startsWith(".")) continue;
          IBaseResource resource;
          try {
            resource = ctx.newJsonParser().parseResource(new String(folder.fetchFile(name), StandardCharsets.UTF_8));
          } catch (RuntimeException notAResource) {
            continue;
          }
          npm.addResource(resource);
        }
        igNames.add(pkg.name() + "#" + pkg.version());
      }
      chain.addValidationSupport(npm);
    }
    FhirInstanceValidator module = new FhirInstanceValidator(chain);
    FhirValidator validator = ctx.newValidator();
    validator.registerValidatorModule(module);

    ObjectNode report = JSON.createObjectNode();
    report.put("validator", "HAPI FHIR " + ca.uhn.fhir.util.VersionUtil.getVersion() + " FhirInstanceValidator");
    report.put("fhirVersion", ctx.getVersion().getVersion().getFhirVersionString());
    report.set("igs", igNames);
    ArrayNode results = report.putArray("results");
    int errorCount = 0;
    int warningCount = 0;
    for (Input input : inputs) {
      ObjectNode r = results.addObject();
      r.put("source", input.source());
      r.put("resourceType", input.resource().path("resourceType").asText(""));
      r.put("id", input.resource().path("id").asText(""));
      ArrayNode errors = r.putArray("errors");
      ArrayNode warnings = r.putArray("warnings");
      int information = 0;
      ValidationResult result = validator.validateWithResult(JSON.writeValueAsString(input.resource()));
      for (SingleValidationMessage m : result.getMessages()) {
        ResultSeverityEnum sev = m.getSeverity();
        if (sev == ResultSeverityEnum.ERROR || sev == ResultSeverityEnum.FATAL) {
          add(errors, m);
          errorCount++;
        } else if (sev == ResultSeverityEnum.WARNING) {
          add(warnings, m);
          warningCount++;
        } else {
          information++;
        }
      }
      r.put("information", information);
    }
    report.put("errorCount", errorCount);
    report.put("warningCount", warningCount);
    out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(report));
    System.exit(errorCount == 0 ? 0 : 1);
  }

  private static void add(ArrayNode list, SingleValidationMessage m) {
    ObjectNode o = list.addObject();
    o.put("severity", m.getSeverity().getCode());
    o.put("location", m.getLocationString());
    o.put("message", m.getMessage());
    if (m.getMessageId() != null) o.put("messageId", m.getMessageId());
  }
}
